// api.js — every call the Observatory makes: same-origin fetch with the session cookie, JSON in and out.
// A result is {ok, status, data, error}; error = {status, code, reason, fix, trace_id, path, retry_after}
// whenever the answer is not a 2xx JSON envelope (network failure, 404 of a route not built yet, 5xx…).
// Nothing here invents a value: a failed call has no data.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

const listeners = new Set();

// Called with every 401 (the session expired or was revoked): the app shows the sign-in form.
export function onUnauthenticated(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export async function api(path, { method = 'GET', body } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { Accept: 'application/json' },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, data: null, error: { status: 0, code: 'NETWORK_ERROR', path,
      reason: `The server did not answer (${e && e.message ? e.message : 'network error'}).`,
      fix: 'Check that gatehouse is running and reachable.', trace_id: null } };
  }
  const headerTrace = res.headers.get('X-Trace-Id');
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = null;
  }
  const trace = (data && data.trace_id) || headerTrace || null;
  if (res.status === 401 && !path.startsWith('/api/auth/')) listeners.forEach((fn) => fn());
  if (!res.ok || !data || typeof data !== 'object') {
    return { ok: false, status: res.status, data, error: {
      status: res.status,
      code: (data && data.error_code) || `HTTP_${res.status}`,
      reason: (data && data.reason_human) || (data ? `HTTP ${res.status}` : `HTTP ${res.status}: the answer was not JSON.`),
      fix: (data && data.suggested_fix) || null,
      trace_id: trace,
      path,
      retry_after: res.headers.get('Retry-After'),
      body: data,
    } };
  }
  return { ok: true, status: res.status, data, error: null };
}

export const post = (path, body) => api(path, { method: 'POST', body: body === undefined ? {} : body });

// usePoll(path, ms) → {data, error, loading, refresh, at}: fetches path now and every ms milliseconds (no page
// reload). When a poll fails the data is dropped — the panel shows the failure, never the last good answer as
// if it were current. path null = do not fetch.
export function usePoll(path, ms = 5000) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path, at: null });
  const seq = useRef(0);
  const inflight = useRef(false);
  // A timer tick while the previous request is still out is skipped (a slow or hanging endpoint must still
  // get its answer shown); a path change or an explicit refresh supersedes the request in flight.
  const poll = useCallback(async (explicit) => {
    if (!path || (inflight.current && !explicit)) return;
    const mine = ++seq.current;
    inflight.current = true;
    const r = await api(path);
    if (mine !== seq.current) return; // a newer request (or another path) superseded this one
    inflight.current = false;
    setState({ data: r.ok ? r.data : null, error: r.error, loading: false, at: new Date() });
  }, [path]);
  const refresh = useCallback(() => poll(true), [poll]);
  useEffect(() => {
    seq.current++;
    inflight.current = false;
    setState({ data: null, error: null, loading: !!path, at: null });
    if (!path) return undefined;
    refresh();
    const id = ms > 0 ? setInterval(() => poll(false), pollMs(ms)) : null;
    return () => {
      seq.current++;
      inflight.current = false;
      if (id) clearInterval(id);
    };
  }, [path, ms, refresh, poll]);
  return { ...state, refresh };
}

// ?poll=<ms> in the URL the page was opened with shortens every polling period (the browser specs use it;
// never below 500 ms).
const POLL_OVERRIDE = (() => {
  const n = parseInt(new URLSearchParams(window.location.search).get('poll') || '', 10);
  return Number.isFinite(n) && n >= 500 ? n : null;
})();

function pollMs(ms) {
  return POLL_OVERRIDE ? Math.min(POLL_OVERRIDE, ms) : ms;
}
