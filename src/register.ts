// `node --import batchgram/register app.js` (or --require): every node:dgram
// socket of the process on batchgram's drop-in (compat/register.ts).
import { register } from './compat/register';

register();
