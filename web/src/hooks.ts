import type { ChatStore } from "@chat/client";
import { useEffect, useReducer } from "preact/hooks";

/** Re-renders the component whenever the view model changes. */
export function useStore(store: ChatStore): number {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => store.subscribe(() => bump(undefined)), [store]);
  return store.version;
}

export const shortTime = (iso: string) => {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
};

/** A short name for a user id (the part before @). */
export const displayName = (user: string) => user.split("@")[0] || user;
