import { t } from "elysia";
import { TypeRegistry } from "elysia/type-system";
import { parseDecimal, type Rule } from "@chat/common/grammar";

/**
 * The common grammars as Elysia (TypeBox 0.34) schemas. Each is a custom kind whose only
 * validator is the rule's check, so REST refuses exactly what the WebSocket, the JWT check and
 * the RPC validators refuse; the rule's JSON Schema keywords are kept for the OpenAPI document.
 */
const Kind = Symbol.for("TypeBox.Kind");
const RULE = Symbol("grammar rule");
type GrammarSchema = { [RULE]: Rule };

TypeRegistry.Set<GrammarSchema>("Grammar", (schema, value) => schema[RULE].check(value));
TypeRegistry.Set<{ minimum: number; maximum: number }>("DecimalInteger", (schema, value) => {
  const n = typeof value === "string" ? parseDecimal(value) : undefined;
  return n !== undefined && n >= schema.minimum && n <= schema.maximum;
});
TypeRegistry.Set<{ minimum: number; maximum: number }>(
  "JsonInteger",
  (schema, value) => Number.isSafeInteger(value) && (value as number) >= schema.minimum && (value as number) <= schema.maximum,
);

export function grammar(rule: Rule, options: { description?: string } = {}) {
  return t.Unsafe<string>({ ...rule.schema, ...options, [Kind]: "Grammar", [RULE]: rule });
}

/**
 * An integer query parameter: plain decimal digits only (`0x10`, `1e1`, `+5`, ` 5` and `1.5` are
 * refused, where TypeBox's numeric coercion would take them), documented as `type: integer`.
 */
export function queryInteger(options: { minimum: number; maximum: number; description: string }) {
  return t
    .Transform(t.Unsafe<string>({ type: "integer", ...options, [Kind]: "DecimalInteger" }))
    .Decode((v) => parseDecimal(v)!)
    .Encode((n: number) => String(n));
}

/**
 * An integer in a JSON body or response: a JSON number only (Elysia's `t.Integer` would take `"4"`, which
 * PROTOCOL §8 refuses, and documents itself as string-or-integer), documented as `type: integer`.
 */
export function jsonInteger(options: { minimum: number; maximum: number; description?: string }) {
  return t.Unsafe<number>({ type: "integer", ...options, [Kind]: "JsonInteger" });
}

/** Why a value failed a grammar or integer schema, for the error envelope; undefined for other schemas. */
export function grammarMessage(schema: unknown): string | undefined {
  if (!schema || typeof schema !== "object") return undefined;
  const s = schema as Partial<GrammarSchema> & { [Kind]?: string; minimum?: number; maximum?: number };
  if (s[RULE]) return s[RULE].message;
  if (s[Kind] === "DecimalInteger") return `must be an integer from ${s.minimum} to ${s.maximum}, in decimal digits`;
  if (s[Kind] === "JsonInteger") return `must be an integer (a JSON number) from ${s.minimum} to ${s.maximum}`;
  return undefined;
}
