import type { ChildProcess } from "node:child_process";

/**
 * The first line a child process prints on stdout (trimmed), as a crash-test child reports
 * what it made before it hangs; rejects, naming `what` it was waiting for, if the child exits
 * first.
 */
export function firstStdoutLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("\n")) resolve(out.trim());
    });
    child.on("exit", (code) => reject(new Error(`the child exited with ${code} before ${what}`)));
  });
}
