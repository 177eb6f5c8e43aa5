// Two hosts on one machine: network namespaces joined by a veth pair, with
// IPv4 and IPv6 addresses that exist only inside them. Tests run programs in
// either host with `ip netns exec`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces are Linux-only';
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (run the tests as root)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "needs iproute2's ip command (.ci/run installs it)";
  }
  return null;
}

/** Why nftables rules cannot be set here, or null when they can. */
export function nftUnavailable(): string | null {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
  } catch {
    return "needs nftables' nft command (.ci/run installs it)";
  }
  return null;
}

export interface Host { ns: string; v4: string; v6: string; dev: string }

export class TwoHosts {
  readonly a: Host;
  readonly b: Host;

  /** `id` keeps concurrent test files apart: namespaces and subnets are per id. */
  constructor(id: number) {
    const tag = `${process.pid % 10000}-${id}`;
    const net = 200 + (id % 50);
    this.a = { ns: `bg-a-${tag}`, v4: `10.${net}.0.1`, v6: `fd00:${net}::1`, dev: `bga${id}` };
    this.b = { ns: `bg-b-${tag}`, v4: `10.${net}.0.2`, v6: `fd00:${net}::2`, dev: `bgb${id}` };
    this.destroy();
    try {
      for (const h of [this.a, this.b]) ip('netns', 'add', h.ns);
      ip('link', 'add', this.a.dev, 'netns', this.a.ns, 'type', 'veth', 'peer', 'name', this.b.dev, 'netns', this.b.ns);
      for (const h of [this.a, this.b]) {
        ip('-n', h.ns, 'link', 'set', 'lo', 'up');
        ip('-n', h.ns, 'addr', 'add', `${h.v4}/24`, 'dev', h.dev);
        ip('-n', h.ns, '-6', 'addr', 'add', `${h.v6}/64`, 'dev', h.dev, 'nodad');
        ip('-n', h.ns, 'link', 'set', h.dev, 'up');
      }
      // Fixed neighbours: the kernel queues only a few datagrams while it
      // resolves a neighbour and drops the rest, which is the link's doing,
      // not ours, and would make the first batch of a test lossy.
      for (const [h, peer] of [[this.a, this.b], [this.b, this.a]]) {
        const mac = JSON.parse(execFileSync('ip', ['-n', peer.ns, '-j', 'link', 'show', 'dev', peer.dev], { encoding: 'utf8' }))[0].address;
        for (const addr of [peer.v4, peer.v6]) ip('-n', h.ns, 'neigh', 'replace', addr, 'lladdr', mac, 'dev', h.dev, 'nud', 'permanent');
      }
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** Runs a command inside a host's namespace. */
  exec(h: Host, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', h.ns, ...args], { encoding: 'utf8' });
  }

  /**
   * Starts `node -e script` inside a host, behind `wrapper` (a command such as
   * strace and its arguments) if given; its stdout lines are JSON messages.
   */
  node(h: Host, script: string, wrapper: string[] = []): NodeProgram {
    return new NodeProgram(spawn('ip', ['netns', 'exec', h.ns, ...wrapper, process.execPath, '-e', script],
      { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  destroy(): void {
    for (const h of [this.a, this.b]) {
      try {
        ip('netns', 'del', h.ns); // takes its end of the veth pair with it
      } catch {
        // not there
      }
    }
  }
}

/** A child program that speaks one JSON object per stdout line. */
export class NodeProgram {
  readonly #messages: unknown[] = [];
  readonly #waiters: Array<() => void> = [];
  #stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.#messages.push(JSON.parse(line));
      for (const w of this.#waiters.splice(0)) w();
    });
    child.stderr!.on('data', (d) => { this.#stderr += d; });
    this.exited = new Promise((resolve) => child.on('exit', (code) => {
      for (const w of this.#waiters.splice(0)) w();
      resolve(code);
    }));
  }

  /** The next JSON message, or an error with the program's stderr if it ends first or takes longer than `ms`. */
  async next<T = Record<string, unknown>>(ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    while (this.#messages.length === 0) {
      if (this.child.exitCode !== null || Date.now() > end) {
        this.child.kill();
        throw new Error(`program ended or timed out without output; stderr: ${this.#stderr}`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.#messages.shift() as T;
  }

  kill(): void {
    this.child.kill();
  }
}
