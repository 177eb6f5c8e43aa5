// Which engine a socket gets: the batch path where useBatchPath says so,
// node:dgram otherwise.
import type { NativeBinding } from '../kernel/native';
import type { BindOptions, Engine, EngineHost } from './contract';
import { openPortable } from './portable';
import { adoptLinux, openLinux } from './linux/bind';

/** Opens an engine; `b` is the addon when the batch path is taken, null for the portable path. */
export function openEngine(b: NativeBinding | null, o: BindOptions, host: EngineHost): Promise<Engine> {
  return b !== null ? Promise.resolve(openLinux(b, o, host)) : openPortable(o, host);
}

/** Opens an engine on the batch path at once (the dgram drop-in binds synchronously). */
export function openBatchEngine(b: NativeBinding, o: BindOptions, host: EngineHost): Engine {
  return openLinux(b, o, host);
}

/** Takes over an inherited UDP socket on the batch path (the drop-in's bind({ fd })). */
export function adoptBatchEngine(b: NativeBinding, fd: number, o: BindOptions, host: EngineHost): Engine {
  return adoptLinux(b, fd, o, host);
}
