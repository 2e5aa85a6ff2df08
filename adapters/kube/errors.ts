/**
 * What a failed Kubernetes API call says, for messages an operator can act on: the HTTP code
 * and the Status body's message (the client's own message repeats the whole response).
 */
import * as k8s from '@kubernetes/client-node';

export function kubeStatusCode(err: unknown): number | null {
  return err instanceof k8s.ApiException ? err.code : null;
}

export function kubeErrorText(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    let parsed: unknown = body;
    if (typeof body === 'string') {
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = body;
      }
    }
    const message =
      parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string'
        ? (parsed as { message: string }).message
        : typeof parsed === 'string' && parsed.trim() !== ''
          ? parsed.trim().slice(0, 300)
          : `HTTP ${err.code}`;
    return `${message} (HTTP ${err.code})`;
  }
  if (err instanceof Error) return err.message;
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : String(err);
}
