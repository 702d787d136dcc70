// k6 load test for the chat service (PROTOCOL.md): one VU = one WebSocket user session.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e AUTH_JWT_SECRET=... bench/k6/chat.js
//
// See bench/k6/README.md for every variable. Point it only at servers you operate.
import http from 'k6/http';
import exec from 'k6/execution';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { check, fail } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
import { setInterval, clearInterval, setTimeout, clearTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';

// ---------------------------------------------------------------- configuration

const env = (k, d) => (__ENV[k] !== undefined && __ENV[k] !== '' ? __ENV[k] : d);
const num = (k, d) => {
  const v = Number(env(k, d));
  if (!Number.isFinite(v)) fail(`${k} must be a number`);
  return v;
};

const BASE_URL = env('BASE_URL', 'http://127.0.0.1:8080').replace(/\/+$/, '');
const WS_URL = BASE_URL.replace(/^http/, 'ws') + '/v1/ws';
const SECRET = env('AUTH_JWT_SECRET', '');
const TEAMS = num('TEAMS', 10);
const MEMBERS = num('MEMBERS', 10);
const MSG_RATE = num('MSG_RATE', 1); // messages/s per VU (the server allows 20/s, burst 40, by default)
const MSG_SIZE = Math.max(24, num('MSG_SIZE', 64));
const DM_RATIO = num('DM_RATIO', 0);
const SESSION_SECONDS = num('SESSION_SECONDS', 60);
const ACK_TIMEOUT_MS = num('ACK_TIMEOUT_MS', 10000);
const TOKEN_TTL = num('TOKEN_TTL', 6 * 3600);
const VIA = env('VIA', 'header'); // header | query
const STAGES = env('STAGES', '30s:50,1m:200,2m:200,30s:0');

// Pre-minted tokens (one per user) instead of a secret: TOKENS=jwt1,jwt2,... or TOKENS_FILE (one per line).
// open() only works in the init context, hence here.
const PRE_MINTED = (() => {
  const file = env('TOKENS_FILE', '');
  const raw = file ? open(file) : env('TOKENS', '');
  return raw
    .split(/[\s,]+/)
    .map((t) => t.trim())
    .filter(Boolean);
})();

function parseStages(spec) {
  return spec.split(',').map((s) => {
    const [duration, target] = s.trim().split(':');
    if (!duration || target === undefined || !Number.isFinite(Number(target))) fail(`STAGES: expected "30s:50,1m:200,...", got "${s}"`);
    return { duration, target: Number(target) };
  });
}

export const options = {
  scenarios: {
    chat: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: parseStages(STAGES),
      // a VU ramped down finishes its session (and counts its unacked messages) instead of being cut off
      gracefulRampDown: `${SESSION_SECONDS + 15}s`,
      gracefulStop: `${SESSION_SECONDS + 15}s`,
    },
  },
  setupTimeout: env('SETUP_TIMEOUT', '5m'),
  thresholds: {
    chat_ack_ms: [`p(95)<${num('ACK_P95_MS', 250)}`, `p(99)<${num('ACK_P99_MS', 1000)}`],
    chat_delivery_ms: [`p(95)<${num('DELIVERY_P95_MS', 500)}`],
    chat_message_errors: [`rate<${num('MAX_ERROR_RATE', 0.01)}`],
    chat_ready_ok: ['rate>0.99'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

// ---------------------------------------------------------------- metrics

const ackMs = new Trend('chat_ack_ms', true); // send -> ack (durable)
const deliveryMs = new Trend('chat_delivery_ms', true); // send -> message frame at another VU's socket
const readyMs = new Trend('chat_ready_ms', true); // socket created -> ready frame
const messageErrors = new Rate('chat_message_errors'); // per sent message: error frame or no ack
const readyOk = new Rate('chat_ready_ok');
const errorFrames = new Counter('chat_error_frames'); // tagged by code
const acked = new Counter('chat_acked');
const deliveries = new Counter('chat_deliveries');
const serverCloses = new Counter('chat_server_closes'); // tagged by close code (1013 = too slow)

// ---------------------------------------------------------------- tokens

const b64url = (s) => encoding.b64encode(s, 'rawurl');

/** HS256 JWT, as the external Auth Service would issue it (sub + exp required). */
function mint(sub) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ sub, iat: now, exp: now + TOKEN_TTL }));
  return `${head}.${body}.${crypto.hmac('sha256', SECRET, `${head}.${body}`, 'base64rawurl')}`;
}

function subjectOf(jwt) {
  try {
    return JSON.parse(encoding.b64decode(jwt.split('.')[1], 'rawurl', 's')).sub;
  } catch (e) {
    fail('TOKENS: not a JWT');
  }
}

const auth = (token) => ({ headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, tags: { name: 'setup' } });

// ---------------------------------------------------------------- setup: users and teams over REST

export function setup() {
  let users;
  let tokens;
  if (PRE_MINTED.length) {
    tokens = PRE_MINTED;
    users = tokens.map(subjectOf);
  } else {
    if (!SECRET) fail('set AUTH_JWT_SECRET (HS256 secret) or TOKENS / TOKENS_FILE (pre-minted JWTs)');
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
    users = [];
    for (let i = 0; i < TEAMS * MEMBERS; i++) users.push(`k6-${run}-t${Math.floor(i / MEMBERS)}-u${i}@bench.dev`);
    tokens = users.map(mint);
  }
  const teamCount = Math.ceil(users.length / MEMBERS);
  const teams = [];
  const teamOf = [];
  for (let t = 0; t < teamCount; t++) {
    const owner = t * MEMBERS;
    const res = http.post(`${BASE_URL}/v1/teams`, JSON.stringify({ name: `k6 team ${t}`, meta_tags: ['k6'] }), auth(tokens[owner]));
    if (!check(res, { 'team created (201)': (r) => r.status === 201 })) fail(`POST /v1/teams: ${res.status} ${res.body}`);
    const id = res.json('data.id');
    teams.push(id);
    const adds = [];
    for (let u = owner + 1; u < Math.min(owner + MEMBERS, users.length); u++)
      adds.push(['POST', `${BASE_URL}/v1/teams/${id}/members`, JSON.stringify({ user_id: users[u] }), auth(tokens[owner])]);
    for (const r of adds.length ? http.batch(adds) : []) check(r, { 'member added (201)': (x) => x.status === 201 });
    for (let u = owner; u < Math.min(owner + MEMBERS, users.length); u++) teamOf[u] = t;
  }
  return { users, tokens, teams, teamOf };
}

// ---------------------------------------------------------------- one VU: one socket session

const PAD = 'x'.repeat(MSG_SIZE);

export default function (data) {
  const vu = exec.vu.idInTest;
  const u = (vu - 1) % data.users.length;
  const team = data.teams[data.teamOf[u]];
  const token = data.tokens[u];
  const teamBase = data.teamOf[u] * MEMBERS;
  const teamSize = Math.min(MEMBERS, data.users.length - teamBase);

  const url = VIA === 'query' ? `${WS_URL}?access_token=${encodeURIComponent(token)}` : WS_URL;
  const params = { tags: { name: 'chat_ws' } };
  if (VIA !== 'query') params.headers = { Authorization: `Bearer ${token}` };
  const opened = Date.now();
  const ws = new WebSocket(url, null, params);

  const pending = new Map(); // client_msg_id -> send time (ms)
  let counter = 0;
  let ready = false;
  let closingByUs = false;
  let readyRecorded = false;
  let sender = null;
  let sweeper = null;
  let readyTimeout = null;
  let sessionEnd = null;
  const recordReady = (ok) => {
    if (readyRecorded) return;
    readyRecorded = true;
    readyOk.add(ok);
  };

  const send = () => {
    if (ws.readyState !== 1) return;
    const t = Date.now();
    let to = '*';
    if (DM_RATIO > 0 && teamSize > 1 && Math.random() < DM_RATIO) {
      let r = teamBase + Math.floor(Math.random() * (teamSize - 1));
      if (r >= u) r++;
      to = data.users[r];
    }
    const head = `${t}:${vu}:`;
    const cmid = `${vu}.${exec.vu.iterationInScenario}.${++counter}`;
    pending.set(cmid, t);
    ws.send(JSON.stringify({ channel_id: team, to, type: 'text', data: head + PAD.slice(head.length), client_msg_id: cmid }));
  };

  const stop = () => {
    clearInterval(sender);
    clearInterval(sweeper);
    clearTimeout(sessionEnd);
    clearTimeout(readyTimeout);
    for (let i = 0; i < pending.size; i++) {
      messageErrors.add(true);
      errorFrames.add(1, { code: 'unacked' });
    }
    pending.clear();
  };

  ws.onmessage = (e) => {
    const now = Date.now();
    let f;
    try {
      f = JSON.parse(e.data);
    } catch (_) {
      return;
    }
    switch (f.event) {
      case 'ready':
        ready = true;
        recordReady(true);
        readyMs.add(now - opened);
        check(f, { 'ready lists the team': (x) => Array.isArray(x.channels) && x.channels.includes(team) });
        if (MSG_RATE > 0) sender = setInterval(send, 1000 / MSG_RATE);
        sweeper = setInterval(() => {
          const limit = Date.now() - ACK_TIMEOUT_MS;
          for (const [cmid, t] of pending)
            if (t < limit) {
              pending.delete(cmid);
              messageErrors.add(true);
              errorFrames.add(1, { code: 'ack_timeout' });
            }
        }, 1000);
        break;
      case 'ack': {
        const t = pending.get(f.client_msg_id);
        if (t === undefined) break;
        pending.delete(f.client_msg_id);
        ackMs.add(now - t);
        acked.add(1);
        messageErrors.add(false);
        break;
      }
      case 'error': {
        errorFrames.add(1, { code: String(f.code) });
        if (f.client_msg_id && pending.delete(f.client_msg_id)) messageErrors.add(true);
        break;
      }
      case 'message': {
        deliveries.add(1);
        const m = /^(\d+):(\d+):/.exec(f.data || '');
        if (m && Number(m[2]) !== vu) deliveryMs.add(now - Number(m[1]));
        break;
      }
    }
  };

  ws.onclose = (e) => {
    recordReady(ready);
    if (!closingByUs) serverCloses.add(1, { code: String(e && e.code !== undefined ? e.code : 'unknown') });
    stop();
    // A refused or dropped socket holds the iteration a second, so a failing VU does not reconnect in a tight loop.
    if (!ready || !closingByUs) setTimeout(() => {}, 1000);
  };

  ws.onerror = () => {
    if (!ready && !closingByUs) errorFrames.add(1, { code: 'connect_error' });
  };

  readyTimeout = setTimeout(() => {
    if (!ready) {
      closingByUs = true;
      recordReady(false);
      ws.close();
    }
  }, 15000);

  // Sessions end on their own so the ramp can replace sockets; the last acks get a moment to arrive.
  sessionEnd = setTimeout(() => {
    clearInterval(sender);
    setTimeout(() => {
      closingByUs = true;
      ws.close();
    }, Math.min(ACK_TIMEOUT_MS, 2000));
  }, SESSION_SECONDS * 1000);
}
