/**
 * The dossier as one self-contained HTML page for a change ticket: the Markdown's own sections and
 * tables, the plots inline as SVG, a stylesheet in the page, no script, and a Content-Security-Policy
 * that forbids every request (an evidence file must not phone home, nor break offline).
 *
 * The Markdown is the dossier's own (client/report*.ts), so this reads the subset it writes:
 * headings, paragraphs (two trailing spaces break a line), tables, lists, fenced code, rules,
 * **bold**, _emphasis_, `code` and plot image lines. Every text is escaped: the evidence holds
 * DAG ids, error messages and config values that are not ours.
 */
import { plotOfLine, type Dossier } from './dossier-model.js';
import { esc } from './plots/svg.js';

const STYLE = `
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --rule: #d9e2ec; --band: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink);
  max-width: 1100px; margin: 24px auto; padding: 0 24px; }
h1 { font-size: 24px; margin: 0 0 16px; } h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 8px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; max-width: 100%; }
th, td { border: 1px solid var(--rule); padding: 4px 8px; vertical-align: top; text-align: left; overflow-wrap: break-word; }
th { background: var(--band); }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--band); padding: 0 3px; border-radius: 3px; overflow-wrap: break-word; }
pre { background: var(--band); padding: 10px 12px; border-radius: 4px; overflow-x: auto; font-size: 12.5px; }
pre code { background: none; padding: 0; }
pre .add { color: #2b8a3e; } pre .del { color: #c92a2a; }
figure { margin: 12px 0 18px; } figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 12px; margin-top: 4px; }
hr { border: 0; border-top: 1px solid var(--rule); margin: 20px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; border-top: 1px solid var(--rule); padding-top: 8px; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  h2 { break-after: avoid; } figure, table, pre { break-inside: avoid; }
  pre { white-space: pre-wrap; }
}`;

/** Inline Markdown of one escaped line: code spans first, so that nothing inside them is read as markup. */
function inline(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => {
      if (part.length >= 2 && part.startsWith('`') && part.endsWith('`'))
        return `<code>${esc(part.slice(1, -1))}</code>`;
      return esc(part)
        .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
        .replace(/(^|[\s(])_([^_]+)_(?=$|[\s).,:;])/g, '$1<em>$2</em>')
        .replace(
          /\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g,
          (_m, label: string, href: string) => `<a href="${href}">${label}</a>`,
        );
    })
    .join('');
}

/** A table row's cells: split on pipes that are not escaped, then unescape them. */
function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

function table(rows: string[]): string {
  const [head = '', rule = '', ...body] = rows;
  const right = cells(rule).map((c) => c.endsWith(':'));
  const cls = (i: number) => (right[i] ? ' class="num"' : '');
  const th = cells(head)
    .map((c, i) => `<th${cls(i)}>${inline(c)}</th>`)
    .join('');
  const tr = body
    .map(
      (r) =>
        `<tr>${cells(r)
          .map((c, i) => `<td${cls(i)}>${inline(c)}</td>`)
          .join('')}</tr>`,
    )
    .join('\n');
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${tr}\n</tbody>\n</table>`;
}

function codeBlock(lang: string, lines: string[]): string {
  const body = lines
    .map((l) => {
      if (lang !== 'diff') return esc(l);
      if (l.startsWith('+') && !l.startsWith('+++')) return `<span class="add">${esc(l)}</span>`;
      if (l.startsWith('-') && !l.startsWith('---')) return `<span class="del">${esc(l)}</span>`;
      return esc(l);
    })
    .join('\n');
  return `<pre><code${lang ? ` data-lang="${esc(lang)}"` : ''}>${body}</code></pre>`;
}

const LIST_ITEM = /^(\s*)([-*]|\d+\.)\s+(.*)$/;

/** Consecutive list lines, nested by indentation; an indented line that is no item continues the last one. */
function list(lines: string[]): string {
  const out: string[] = [];
  const open: { indent: number; tag: 'ul' | 'ol' }[] = [];
  for (const line of lines) {
    const m = LIST_ITEM.exec(line);
    if (!m) {
      out.push(`<br>${inline(line.trim())}`);
      continue;
    }
    const indent = m[1]?.length ?? 0;
    const tag = /\d/.test(m[2] ?? '') ? 'ol' : 'ul';
    let top = open[open.length - 1];
    while (top && indent < top.indent) {
      out.push(`</li></${top.tag}>`);
      open.pop();
      top = open[open.length - 1];
    }
    if (!top || indent > top.indent) {
      out.push(`<${tag}>`);
      open.push({ indent, tag });
    } else out.push('</li>');
    out.push(`<li>${inline(m[3] ?? '')}`);
  }
  while (open.length > 0) out.push(`</li></${open.pop()?.tag ?? 'ul'}>`);
  return out.join('');
}

function body(d: Dossier): string {
  const lines = d.markdown.split('\n');
  const out: string[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length === 0) return;
    out.push(
      `<p>${para.map((l, i) => inline(l.trim()) + (i < para.length - 1 ? (/ {2}$/.test(l) ? '<br>' : ' ') : '')).join('')}</p>`,
    );
    para = [];
  };
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (line.startsWith('<!--')) {
      flush();
      while (i < lines.length && !(lines[i] ?? '').includes('-->')) i += 1;
      continue;
    }
    const fence = /^```(\S*)\s*$/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      for (i += 1; i < lines.length && !/^```\s*$/.test(lines[i] ?? ''); i += 1) code.push(lines[i] ?? '');
      out.push(codeBlock(fence[1] ?? '', code));
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const level = heading[1]?.length ?? 1;
      out.push(`<h${level}>${inline(heading[2] ?? '')}</h${level}>`);
      continue;
    }
    if (/^-{3,}\s*$/.test(line)) {
      flush();
      out.push('<hr>');
      continue;
    }
    if (line.startsWith('![')) {
      flush();
      const plot = plotOfLine(d, line);
      // An image that is not one of the dossier's plots would be a request: it is left out.
      if (plot)
        out.push(
          `<figure id="${esc(plot.file.replace(/\.svg$/, ''))}">${plot.svg}<figcaption>${esc(plot.title)}</figcaption></figure>`,
        );
      continue;
    }
    if (line.startsWith('|')) {
      flush();
      const rows: string[] = [];
      for (; i < lines.length && (lines[i] ?? '').startsWith('|'); i += 1) rows.push(lines[i] ?? '');
      i -= 1;
      out.push(table(rows));
      continue;
    }
    if (LIST_ITEM.test(line)) {
      flush();
      const items: string[] = [];
      for (; i < lines.length; i += 1) {
        const l = lines[i] ?? '';
        if (LIST_ITEM.test(l) || (items.length > 0 && /^\s{2,}\S/.test(l))) items.push(l);
        else break;
      }
      i -= 1;
      out.push(list(items));
      continue;
    }
    para.push(line);
  }
  flush();
  return out.join('\n');
}

export function renderHtml(d: Dossier): string {
  const title = /^#\s+(.*)$/m.exec(d.markdown)?.[1] ?? 'cutover dossier';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cutover report --format html">
<title>${esc(title.replace(/\*\*/g, ''))}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body(d)}
</main>
<footer>Written by <code>cutover report --format html</code> from the run's recorded evidence; self-contained: no script, no request leaves this page.</footer>
</body>
</html>
`;
}
