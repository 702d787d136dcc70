import { describe, expect, test } from "bun:test";
import { parseOptions, type Options } from "./options";

const parse = (argv: string[], env: Record<string, string> = {}) => parseOptions(argv, env) as Options;

describe("options: an existing team", () => {
  test("--team with --users: one team, no other change", () => {
    const o = parse(["--team", "T1", "--users", "m{n}@bench.dev", "--members", "1000", "--rate", "200"]);
    expect([o.team, o.users, o.teams, o.members, o.sockets, o.rate]).toEqual(["T1", "m{n}@bench.dev", 1, 1000, 1000, 200]);
  });
  test("without --team nothing changes", () => {
    const o = parse(["--teams", "3", "--members", "4"]);
    expect([o.team, o.users, o.teams, o.sockets]).toEqual([undefined, undefined, 3, 12]);
  });
  test("refused: --team without a {n} pattern, --users alone, --team with --teams > 1", () => {
    expect(() => parse(["--team", "T1"])).toThrow(/--users/);
    expect(() => parse(["--team", "T1", "--users", "m@bench.dev"])).toThrow(/\{n\}/);
    expect(() => parse(["--users", "m{n}@x"])).toThrow(/--team/);
    expect(() => parse(["--team", "T1", "--users", "m{n}@x", "--teams", "2"])).toThrow(/--teams/);
    expect(() => parse(["--team", "T1", "--users", "m{n}@x"], { BENCH_TEAMS: "5" })).toThrow(/--teams/);
  });
});
