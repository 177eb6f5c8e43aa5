// The JavaScript runtime that loaded the addon, and so how the addon learns
// that a socket is ready (native/src/poll.c). Node.js runs on libuv, and its
// sockets use libuv's uv_poll, as node:dgram's own handles do. Bun and Deno
// load Node-API addons without running on libuv (Bun lacks uv_poll and
// aborts the process when it is called; Deno's stand-in reports once and
// calls uv_close's callback before uv_close returns), so there the addon
// waits on a thread of its own and calls back through a thread-safe
// function. The addon cannot tell the two apart itself: every runtime answers
// napi_get_uv_event_loop, and calling a uv function Bun lacks ends the
// process. Both say who they are in process.versions, beside the Node.js
// version they imitate.

const { bun, deno } = process.versions as NodeJS.ProcessVersions & { bun?: string; deno?: string };

/** The runtime's name and version, as diagnostics print it. */
export const runtime: string = bun !== undefined ? `Bun ${bun}` : deno !== undefined ? `Deno ${deno}` : `Node.js ${process.versions.node}`;

/** Whether the runtime's event loop is libuv's: the addon's pollStart and adopt take it. */
export const uvLoop: boolean = bun === undefined && deno === undefined;
