# The cut-over worker (and CLI) image used by docker-compose.yaml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY . .
RUN npm ci --ignore-scripts && npm run build && npm prune --omit=dev
USER node
CMD ["node", "dist/worker/main.js"]
