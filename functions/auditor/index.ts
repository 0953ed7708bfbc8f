/** The auditor function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/wap/auditor-function.ts`. */
import { auditorFunction } from '../../shared/wap/auditor-function.ts';
import { knativeFunction } from '../knative-function.ts';

export const { init, handle, shutdown } = knativeFunction('auditor', auditorFunction);
