import type { MessageLog } from "../ports";
// Placeholder: implemented in the distributed-mode work.
export const KafkaLog = {
  async connect(..._args: unknown[]): Promise<MessageLog> {
    throw new Error("KafkaLog is not implemented yet");
  },
};
