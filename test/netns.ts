// Two hosts on one machine: network namespaces joined by a veth pair, with
// IPv4 and IPv6 addresses that exist only inside them. Tests run programs in
// either host with `ip netns exec`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { missingCommand } from './helpers';

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
  return missingCommand('nft', ['--version'], "needs nftables' nft command (.ci/run installs it)");
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

/** A link of a MulticastHost: its device and its addresses. */
export interface Link { dev: string; v4: string[]; v6: string[] }

/**
 * One host whose multicast stays inside it: a namespace with two veth
 * links, each paired with a peer in the same namespace. A datagram sent to a
 * group reaches this host's members through the kernel's multicast loopback
 * on the link it left by, which is what IP_MULTICAST_LOOP and
 * IP_MULTICAST_IF decide, and, unless its TTL is 0, through the wire to the
 * link's peer, as if from another host: a member joined on `wire` (the first
 * link's peer) gets that copy too, as the kernel accepts the host's own
 * source addresses there (accept_local). (lo is no such link: it receives
 * whatever it sends, so IPv4's loop flag changes nothing there.) Groups are
 * routed through the first link, which has two addresses of each family: two sources.
 */
export class MulticastHost {
  readonly ns = `bg-mc-${process.pid % 10000}`;
  readonly links: [Link, Link] = [
    { dev: 'mc0', v4: ['10.77.0.1', '10.77.0.2'], v6: ['fd77::1', 'fd77::2'] },
    { dev: 'mc1', v4: ['10.77.1.1'], v6: ['fd77:1::1'] },
  ];
  readonly wire: Link = { dev: 'peer0', v4: ['10.78.0.1'], v6: [] };

  constructor() {
    this.destroy();
    try {
      ip('netns', 'add', this.ns);
      ip('-n', this.ns, 'link', 'set', 'lo', 'up');
      const peers = [this.wire, { dev: 'peer1', v4: [], v6: [] }];
      for (const [i, l] of this.links.entries()) {
        ip('-n', this.ns, 'link', 'add', l.dev, 'type', 'veth', 'peer', 'name', peers[i].dev);
        for (const link of [l, peers[i]]) {
          for (const a of link.v4) ip('-n', this.ns, 'addr', 'add', `${a}/24`, 'dev', link.dev);
          for (const a of link.v6) ip('-n', this.ns, '-6', 'addr', 'add', `${a}/64`, 'dev', link.dev, 'nodad');
          ip('-n', this.ns, 'link', 'set', link.dev, 'up');
        }
      }
      // Every up link gets a kernel route for ff00::/8 of metric 256; this one comes first.
      ip('-n', this.ns, 'route', 'add', '224.0.0.0/4', 'dev', this.links[0].dev);
      ip('-n', this.ns, '-6', 'route', 'add', 'multicast', 'ff00::/8', 'dev', this.links[0].dev, 'table', 'local', 'metric', '1');
      this.exec('sysctl', '-qw', 'net.ipv4.conf.all.accept_local=1');
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** Runs a command inside the namespace; its stdout. */
  exec(...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.ns, ...args], { encoding: 'utf8', timeout: 60_000 });
  }

  destroy(): void {
    try {
      ip('netns', 'del', this.ns); // its links with it
    } catch {
      // not there
    }
  }
}
