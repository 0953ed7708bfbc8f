/** The deadletter function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/runtime/deadletter-function.ts`. */
import { deadletterFunction } from '../../shared/runtime/deadletter-function.ts';
import { knativeFunction } from '../knative-function.ts';

export const { init, handle, shutdown } = knativeFunction('deadletter', deadletterFunction);
