// session.js — who is signed in (GET /api/auth/me) and what their role may do.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export const Session = createContext({ user: null, reload: () => {} });

const RANK = { viewer: 1, operator: 2, admin: 3 };

// may(session, 'operator') → whether the signed-in role allows the action. The server stays the judge: an
// allowed button's refusal (403, 409 …) is shown as it comes back.
export function may(session, role) {
  if (!session.user) return false;
  return (RANK[session.user.role] || 0) >= RANK[role];
}

export const useSession = () => useContext(Session);

// The reason shown next to a disabled action.
export function roleHint(session, role) {
  return may(session, role) ? null : `Needs the ${role} role (you are ${session.user ? session.user.role : 'signed out'}).`;
}
