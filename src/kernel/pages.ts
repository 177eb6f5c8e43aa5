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
