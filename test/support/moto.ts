/**
 * A real S3 API server for tests (moto from the project's venv): shipped in local/moto.ts, re-exported
 * here with the names the tests use. startMoto adds one test-only option, `enforceAuth`.
 */
import { execFile } from 'node:child_process';
import { S3Client } from '@aws-sdk/client-s3';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  startMoto as startLocalMoto,
  type MotoOptions,
  type MotoServer as LocalMotoServer,
} from '../../local/moto.js';
import { venvPath, venvPython } from '../../local/venv.js';

export { s3ClientFor } from '../../local/moto.js';
export { freePort } from '../../local/ports.js';
export { MOTO_CREDENTIALS as TEST_CREDENTIALS, MOTO_REGION as TEST_REGION } from '../../local/moto.js';
export { repoRoot, venvDir, venvPython } from '../../local/venv.js';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface MotoServer extends LocalMotoServer {
  /** Credentials this moto accepts (moto's 'testing' pair, or an IAM user's keys when it enforces auth). */
  credentials: S3Credentials;
  /** Whether moto checks signatures and IAM permissions on every request. */
  enforcesAuth: boolean;
}

export interface TestMotoOptions extends MotoOptions {
  /**
   * Make moto authenticate every request (default false: moto accepts any credentials). The bucket
   * and one IAM user with an s3:* policy are created first; `credentials` and `s3` then use that
   * user's keys, and any key moto's IAM does not know gets 403 InvalidAccessKeyId.
   *
   * moto 5.2's switch is settings.INITIAL_NO_AUTH_ACTION_COUNT (the first n requests are not
   * authenticated, later ones are). local/moto.ts starts moto with a fixed environment, so the
   * switch is thrown at run time through moto's own POST /moto-api/reset-auth (body "0"), which
   * sets that same setting and resets the request counter (moto_api/_internal/responses.py).
   */
  enforceAuth?: boolean;
  /** With enforceAuth: IAM actions the user is explicitly denied (e.g. s3:GetLifecycleConfiguration). */
  denyActions?: string[];
}

/**
 * Creates an IAM user with an s3:* inline policy and one access key, through boto3 from the venv
 * (the project has no IAM client for Node). Runs while moto still accepts any credentials.
 */
function createIamUser(endpoint: string, denyActions: string[] = []): Promise<S3Credentials> {
  const script = `
import json, sys, boto3
endpoint, region, key_id, secret, deny = sys.argv[1:6]
iam = boto3.client("iam", endpoint_url=endpoint, region_name=region,
                   aws_access_key_id=key_id, aws_secret_access_key=secret)
iam.create_user(UserName="cutover-test")
statements = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
if json.loads(deny):
    statements.append({"Effect": "Deny", "Action": json.loads(deny), "Resource": "*"})
iam.put_user_policy(UserName="cutover-test", PolicyName="s3-all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": statements}))
key = iam.create_access_key(UserName="cutover-test")["AccessKey"]
print(json.dumps({"accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"]}))
`;
  return new Promise((resolve, reject) => {
    execFile(
      venvPython(),
      [
        '-c',
        script,
        endpoint,
        MOTO_REGION,
        MOTO_CREDENTIALS.accessKeyId,
        MOTO_CREDENTIALS.secretAccessKey,
        JSON.stringify(denyActions),
      ],
      { env: { PATH: venvPath(), HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`creating an IAM user in moto failed: ${err.message}\n${stderr.slice(-2000)}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as S3Credentials);
        } catch {
          reject(new Error(`creating an IAM user in moto printed no keys: ${stdout.slice(-500)}`));
        }
      },
    );
  });
}

async function requireAuth(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    body: '0',
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto refused to enforce auth: HTTP ${res.status} ${text.slice(0, 300)}`);
}

export async function startMoto(opts: TestMotoOptions = {}): Promise<MotoServer> {
  const { enforceAuth = false, denyActions, ...localOpts } = opts;
  const moto = await startLocalMoto(localOpts);
  if (!enforceAuth) {
    return Object.assign(moto, {
      credentials: { ...MOTO_CREDENTIALS },
      enforcesAuth: false,
    });
  }
  let s3: S3Client | undefined;
  try {
    const credentials = await createIamUser(moto.endpoint, denyActions);
    await requireAuth(moto.endpoint);
    s3 = new S3Client({
      endpoint: moto.endpoint,
      forcePathStyle: true,
      region: MOTO_REGION,
      credentials: { ...credentials },
    });
    const authed = s3;
    return {
      endpoint: moto.endpoint,
      bucket: moto.bucket,
      pid: moto.pid,
      logFile: moto.logFile,
      s3: authed,
      credentials,
      enforcesAuth: true,
      async stop() {
        authed.destroy();
        await moto.stop();
      },
    };
  } catch (err) {
    s3?.destroy();
    await moto.stop();
    throw err;
  }
}
