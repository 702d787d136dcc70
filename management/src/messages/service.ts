import { AppError } from "@chat/common/errors";
import { authorizeOp, getRecentMessage, type LifecycleEntry, type MessageOp } from "@chat/common/lifecycle";
import type { MessageLog, MessageStore, TeamStore } from "@chat/common/ports";
import { getTeam, roleOf } from "@chat/common/membership";

export interface OpAck {
  op: MessageOp["op"];
  id?: string;
  seq: number;
  ts: string;
}

/**
 * The lifecycle ops over REST: the same rules as the relay's (`authorizeOp`), the team and the
 * target read from the stores, the entry appended to the team's log like a frame would be.
 */
export class MessageService {
  constructor(
    private readonly teams: TeamStore,
    private readonly messages: MessageStore,
    private readonly log: MessageLog,
  ) {}

  async apply(teamId: string, actor: string, op: MessageOp): Promise<OpAck> {
    const team = await getTeam(this.teams, teamId);
    if (!team) throw new AppError("not_found", "no such team");
    const role = await roleOf(this.teams, team, actor);
    const target = role === "none" || op.op === "read" ? null : await getRecentMessage(() => this.messages.getMessage(teamId, op.id), op.id);
    const entry = authorizeOp(op, { actor, role, active: team.active, target });
    let seq: number;
    try {
      [seq] = (await this.log.append([{ channelId: teamId, value: JSON.stringify(entry) }])) as [number];
    } catch {
      throw new AppError("unavailable", "message log unavailable, retry later");
    }
    const ack: OpAck = { op: op.op, seq, ts: tsOf(entry) };
    if (entry.kind !== "read") ack.id = entry.id;
    return ack;
  }
}

const tsOf = (e: LifecycleEntry) => (e.kind === "message_edited" ? e.edited_at : e.ts);
