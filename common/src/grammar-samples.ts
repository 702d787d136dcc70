/**
 * Hostile and valid samples for the grammars, shared by the tests of every transport that
 * applies them (JWT, WebSocket frames, connect params, RPC, REST): each must agree with the grammar.
 */
export const USER_IDS = {
  valid: [
    "a@x.dev",
    "bob.smith+chat@example.co.uk",
    "user_1",
    "a*b",
    "...",
    "ü@x.dev", // NFC (precomposed)
    "李@例子.中国",
    "😀@x.dev",
    "u".repeat(320),
    "😀".repeat(320), // 320 code points in 640 UTF-16 units
  ],
  invalid: [
    "",
    ".",
    "..",
    "*",
    "a/b",
    "../etc/passwd",
    "bob\u200b@x.dev", // zero-width space (Cf)
    "\u202eevil", // right-to-left override (Cf)
    "a\u2066b", // bidi isolate (Cf)
    "\ufeffa", // BOM (Cf)
    "a\u0000b",
    "a\u001b[31mb", // ESC
    "a\u007fb",
    "a\u0085b", // NEL (Cc)
    "e\u0301@x.dev", // NFD: e + combining acute
    "a b",
    "a\tb",
    "a\u00a0b", // no-break space
    "a\u2028b", // line separator
    "a\u3000b", // ideographic space
    '{"$ne":1}',
    "$where",
    "a{b",
    "a}b",
    'a"b',
    "a<b",
    "a>b",
    "a\\b",
    "\ud800", // lone surrogate
    "a\udc00b",
    "u".repeat(321),
    "😀".repeat(321),
  ],
} as const;

export const NOT_STRINGS: unknown[] = [undefined, null, 5, true, { $ne: 1 }, ["a@x.dev"], {}];
