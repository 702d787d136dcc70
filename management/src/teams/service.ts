import { AppError } from "@chat/common/errors";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import { allMembers, changeTeam, createTeam, getTeam, memberPage, roleOf, rolesOf, teamWithMembers } from "@chat/common/membership";
import type { MessageLog, TeamQuery, TeamStore } from "@chat/common/ports";
import { retry } from "@chat/common/retry";
import { newTeam, teamView, type MemberRow, type Team, type TeamOp } from "@chat/common/teams";

/**
 * Team changes: decided with the pure role model from the header and the rows of the users
 * involved, committed with one conditional write on the version (common/src/membership.ts),
 * then the resulting membership events published through the log so they reach every relay in
 * order with the channel's messages. No route reads a whole member list of a big team.
 */
export class TeamService {
  /** Per-team chain so one process publishes a team's events in the order its writes won. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly teams: TeamStore,
    private readonly log: MessageLog,
    private readonly logger: Logger,
  ) {}

  async create(creator: string, fields: { name: string; icon?: string; meta_tags?: string[] }): Promise<Team> {
    const team = await createTeam(this.teams, newTeam(objectId(), creator, fields));
    // The creator's open sockets join the new team live, like any added member's.
    await this.publish(team.id, [JSON.stringify({ kind: "member_joined", channel_id: team.id, user: creator, by: creator, ts: team.doc })]);
    return team;
  }

  /** The team, if `user` is a member (403 otherwise, 404 if unknown): one header and one row read. */
  async getAsMember(id: string, user: string): Promise<Team> {
    const team = await getTeam(this.teams, id);
    if (!team) throw new AppError("not_found", "no such team");
    if ((await roleOf(this.teams, team, user)) === "none") throw new AppError("forbidden", "not a member of this team");
    return team;
  }

  /** The public shape of a team, members inline while it is small (PROTOCOL §4), as of one version. */
  async view(team: Team) {
    const { team: at, members } = await teamWithMembers(this.teams, team);
    return teamView(at, members);
  }

  members(team: Team, cursor: string | undefined, limit: number): Promise<{ rows: MemberRow[]; next: string | null }> {
    return memberPage(this.teams, team, cursor, limit);
  }

  /** Which of `users` are members (one row read each, never the member list). */
  async membersAmong(team: Team, users: string[]): Promise<Set<string>> {
    const roles = await rolesOf(this.teams, team, users);
    return new Set(users.filter((u) => roles.get(u) !== "none"));
  }

  /** Every member, page by page: only for answers that are one row per member. */
  everyMember(team: Team): AsyncGenerator<MemberRow[]> {
    return allMembers(this.teams, team);
  }

  list(user: string, query: TeamQuery): Promise<Team[]> {
    return this.teams.listForUser(user, query);
  }

  change(id: string, actor: string, op: TeamOp): Promise<Team> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.apply(id, actor, op));
    this.chains.set(id, run);
    void run.finally(() => {
      if (this.chains.get(id) === run) this.chains.delete(id);
    }).catch(() => undefined);
    return run;
  }

  private async apply(id: string, actor: string, op: TeamOp): Promise<Team> {
    const { team, events } = await changeTeam(this.teams, id, actor, op);
    if (events.length) await this.publish(id, events.map((e) => JSON.stringify(e)));
    return team;
  }

  /** The change is stored; its events are retried, and a final failure is logged, not reported as the change failing. */
  private async publish(channelId: string, values: string[]): Promise<void> {
    await retry(() => this.log.append(values.map((value) => ({ channelId, value }))), {
      attempts: 3,
      baseMs: 50,
      onRetry: (err, attempt) => this.logger.warn("membership event append failed", { channel_id: channelId, attempt, err: String(err) }),
    }).catch(() => this.logger.error("membership events not published; live sockets catch up on reconnect", { channel_id: channelId }));
  }
}
