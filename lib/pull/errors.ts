// Why a pull failed, as a code a caller can act on and one line a person can read.
export type PullErrorCode = 'invalid_source' | 'not_found' | 'unauthorized' | 'network' | 'corrupt' | 'no_space' | 'offline' | 'aborted';

export class PullError extends Error {
  override name = 'PullError';
  constructor(
    readonly code: PullErrorCode,
    message: string,
  ) {
    super(message);
  }
}
