/** The writer function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/wap/writer-function.ts`. */
import { writerFunction } from '../../shared/wap/writer-function.ts';
import { knativeFunction } from '../knative-function.ts';

export const { init, handle, shutdown } = knativeFunction('writer', writerFunction);
