import type { MessageStore, TeamStore } from "../ports";
// Placeholder: implemented in the distributed-mode work.
export const MongoStore = {
  async connect(..._args: unknown[]): Promise<TeamStore & MessageStore> {
    throw new Error("MongoStore is not implemented yet");
  },
};
