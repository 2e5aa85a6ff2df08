# The one image of the compose stack's airflow-init, airflow and worker services: Node 20.19+ (the
# worker, the CLI, the supervisor) and Python 3.11 with the project's venv (.venv: Airflow 3.3, its
# providers; what the components and the worker's probes run), as scripts/setup.sh builds them.
FROM node:20-bookworm

# node:*-bookworm ships python3 (3.11) for node-gyp; the venv needs its venv/ensurepip modules.
RUN python3 -c 'import ensurepip, venv' 2>/dev/null || { \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
      && rm -rf /var/lib/apt/lists/*; \
    }

# /cutover: the shared volume's mount point (the target's env file, the supervisor's logs). A fresh
# named volume takes this directory's owner, so the non-root user can write the env file.
# /opt/airflow: AIRFLOW_HOME of the components and of the worker's probes.
RUN mkdir -p /app /cutover /opt/airflow && chown node:node /app /cutover /opt/airflow
WORKDIR /app
USER node

# The venv first, in its own layer: it only changes with python/*.txt. The stamp is the one
# scripts/setup.sh writes, so setup.sh below skips pip (and reinstalls if the stamp ever differs).
COPY --chown=node:node python/requirements.txt python/constraints.txt python/
RUN python3 -m venv .venv \
    && .venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check \
         -r python/requirements.txt -c python/constraints.txt \
    && printf '%s %s\n' "$(sha256sum python/requirements.txt | cut -d' ' -f1)" \
         "$(sha256sum python/constraints.txt | cut -d' ' -f1)" >.venv/.cutover-req-sha

COPY --chown=node:node . .
# npm ci, the venv (up to date: skipped) and the TypeScript build; then drop the dev tools.
RUN bash scripts/setup.sh \
    && npm prune --omit=dev --no-audit --no-fund \
    && npm cache clean --force \
    && test -f dist/worker/main.js \
    && test -f dist/local/supervisor-main.js \
    && test -d dags

ENV CUTOVER_VENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    LANG=C.UTF-8

CMD ["node", "dist/worker/main.js"]
