// The receiveBlockList and sendBlockList options, which dgram reads from
// Node 22.13 and 23.4 on (before, it ignores them), and how it asks them:
// the sendBlockList before a send or connect with the address looked up, the
// receiveBlockList for each datagram as it is handed out (the list may
// change meanwhile).
import type * as dgram from 'node:dgram';
import { BlockList, isIP } from 'node:net';
import { invalidArgType } from '../errors';

/** dgram reads the receiveBlockList and sendBlockList options from Node 22.13 and 23.4 on; before, it ignores them. */
const READS_BLOCK_LISTS = readsBlockLists(process.versions.node);

function readsBlockLists(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13);
}

/** The socket option `name` where the running dgram reads it, checked as it checks it; else undefined. */
export function blockListOption(options: object, name: 'receiveBlockList' | 'sendBlockList'): BlockList | undefined {
  const value = (options as Record<string, unknown>)[name];
  if (!READS_BLOCK_LISTS || !value) return undefined;
  // BlockList.isBlockList came in the same releases; @types/node 20 does not declare it.
  if (!(BlockList as unknown as { isBlockList(v: unknown): boolean }).isBlockList(value)) {
    throw invalidArgType(`options.${name}`, 'an net.BlockList', value); // sic: dgram's wording
  }
  return value as BlockList;
}

/** Whether `list` names `ip`, asked as dgram asks it: the family as 'ipv4' or 'ipv6'. */
const blocks = (list: BlockList | undefined, ip: string, family: string): boolean =>
  list !== undefined && list.check(ip, family as 'ipv4' | 'ipv6');

/** Whether the sendBlockList `list` names `ip` (an IP literal). */
export const sendBlocked = (list: BlockList | undefined, ip: string): boolean => blocks(list, ip, `ipv${isIP(ip)}`);

/** Whether the receiveBlockList `list` names the sender of a datagram. */
export const receiveBlocked = (list: BlockList | undefined, rinfo: dgram.RemoteInfo): boolean =>
  blocks(list, rinfo.address, rinfo.family.toLowerCase());
