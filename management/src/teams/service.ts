import { AppError } from "@chat/common/errors";
import { objectId } from "@chat/common/ids";
import type { Logger } from "@chat/common/log";
import type { MessageLog, TeamQuery, TeamStore } from "@chat/common/ports";
import { retry } from "@chat/common/retry";
import { applyTeamOp, newTeam, roleOf, type Team, type TeamOp } from "@chat/common/teams";

const MAX_ATTEMPTS = 16;

/**
 * Team changes: read, decide with the pure role model, write with one conditional replace
 * on the version (retrying on a lost race), then publish the resulting membership events
 * through the log so they reach every relay in order with the channel's messages.
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
    const team = newTeam(objectId(), creator, fields);
    await this.teams.create(team);
    // The creator's open sockets join the new team live, like any added member's.
    await this.publish(team.id, [JSON.stringify({ kind: "member_joined", channel_id: team.id, user: creator, by: creator, ts: team.doc })]);
    return team;
  }

  /** The team, if `user` is a member (403 otherwise, 404 if unknown). */
  async getAsMember(id: string, user: string): Promise<Team> {
    const team = await this.teams.get(id);
    if (!team) throw new AppError("not_found", "no such team");
    if (roleOf(team, user) === "none") throw new AppError("forbidden", "not a member of this team");
    return team;
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
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const team = await this.teams.get(id);
      if (!team) throw new AppError("not_found", "no such team");
      const { team: next, events } = applyTeamOp(team, actor, op);
      if (next === team) return team;
      if (!(await this.teams.replace(next, team.version))) continue;
      if (events.length) await this.publish(id, events.map((e) => JSON.stringify(e)));
      return next;
    }
    throw new AppError("unavailable", "team is being changed concurrently, retry");
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
