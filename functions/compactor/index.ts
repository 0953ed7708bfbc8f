/** The compactor function (Knative Functions layout: `init`, `handle`, `shutdown`); its logic lives in `shared/maintenance/functions.ts`. */
import { compactorFunction } from '../../shared/maintenance/functions.ts';
import { knativeFunction } from '../knative-function.ts';

export const { init, handle, shutdown } = knativeFunction('compactor', compactorFunction);
