// Memory of its own mapping for a socket's large blocks (the addon's
// mapPages): freed, it goes back to the system, where blocks from malloc of
// as many sizes as there are socket options would fragment malloc's heap and
// stay resident after their sockets closed.
import { throwSystemError } from '../errors';
import type { NativeBinding } from './native';

/** `byteLength` zeroed bytes, resident only once written; unmapped once collected or released. */
export function mapPages(b: NativeBinding, byteLength: number): ArrayBuffer {
  const pages = b.mapPages(byteLength);
  if (typeof pages === 'number') throwSystemError(pages, 'mmap');
  return pages;
}

/**
 * Blocks from this size on are mapped; smaller ones come from the allocator,
 * which reuses their few fixed sizes without fragmenting, and costs no page
 * faults and no mmap/munmap pair per socket (15 us a fault on a VM).
 */
const MAPPED_BLOCK_MIN = 64 * 1024;

/** `byteLength` zeroed bytes: mapped when large (mapPages), else the allocator's. */
export function allocBlock(b: NativeBinding, byteLength: number): ArrayBuffer {
  return byteLength >= MAPPED_BLOCK_MIN ? mapPages(b, byteLength) : new ArrayBuffer(byteLength);
}

/** Gives a block of allocBlock's back now if it was mapped (and detaches it); else it goes with its last reference. */
export function releaseBlock(b: NativeBinding, block: ArrayBuffer): void {
  if (block.byteLength >= MAPPED_BLOCK_MIN) b.releasePages(block);
}
