// Reads the `curl` commands a human is told to paste (the README's examples, `npm start`'s banner)
// and runs them with Node's fetch, so a test walks exactly what the docs show. Only the shell a
// reader needs is understood: quotes, `$VAR`/`${VAR}`, `$(date -u +FORMAT)`, line continuations,
// and the curl flags the docs use. Anything else throws, so a doc that drifts past it fails loudly.

export type Vars = Record<string, string>;

/** `date -u +FORMAT` for the formats the docs use (GNU date's `%3N` included). */
export const formatDate = (format: string, now: Date): string => {
  const two = (n: number) => String(n).padStart(2, '0');
  const fields: Record<string, string> = {
    Y: String(now.getUTCFullYear()),
    m: two(now.getUTCMonth() + 1),
    d: two(now.getUTCDate()),
    H: two(now.getUTCHours()),
    M: two(now.getUTCMinutes()),
    S: two(now.getUTCSeconds()),
    '3N': String(now.getUTCMilliseconds()).padStart(3, '0'),
    '%': '%',
  };
  return format.replace(/%(3N|.)/g, (_, field: string) => {
    const value = fields[field];
    if (value === undefined) throw new Error(`date format %${field} is not understood`);
    return value;
  });
};

export interface ShellContext {
  vars: Vars;
  /** The instant `$(date ...)` reads. @default now */
  now?: () => Date;
}

const substitute = (command: string, context: ShellContext): string => {
  const words = shellWords(command, context);
  if (words[0] === 'date' && words[1] === '-u' && words.length === 3 && words[2]!.startsWith('+')) {
    return formatDate(words[2]!.slice(1), (context.now ?? (() => new Date()))());
  }
  throw new Error(`the command substitution $(${command}) is not understood`);
};

const variable = (name: string, context: ShellContext): string => {
  const value = context.vars[name];
  if (value === undefined) throw new Error(`$${name} is not defined`);
  return value;
};

/** Splits one command line into words, as a POSIX shell would for these cases. */
export const shellWords = (line: string, context: ShellContext): string[] => {
  const words: string[] = [];
  let word: string | null = null;
  let i = 0;
  const add = (text: string) => {
    word = (word ?? '') + text;
  };
  // `$...` at position i (the `$` itself): the expansion and the index after it.
  const expand = (at: number): [string, number] => {
    const next = line[at + 1];
    if (next === '(') {
      let depth = 1;
      let j = at + 2;
      while (j < line.length && depth > 0) {
        if (line[j] === '(') depth += 1;
        if (line[j] === ')') depth -= 1;
        j += 1;
      }
      if (depth !== 0) throw new Error('unclosed $(');
      return [substitute(line.slice(at + 2, j - 1), context), j];
    }
    if (next === '{') {
      const end = line.indexOf('}', at);
      if (end < 0) throw new Error('unclosed ${');
      return [variable(line.slice(at + 2, end), context), end + 1];
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(line.slice(at + 1))?.[0];
    if (!name) return ['$', at + 1];
    return [variable(name, context), at + 1 + name.length];
  };
  while (i < line.length) {
    const c = line[i]!;
    if (c === '#' && word === null) break; // a comment, to the end of the line
    if (c === ' ' || c === '\t') {
      if (word !== null) words.push(word);
      word = null;
      i += 1;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error('unclosed single quote');
      add(line.slice(i + 1, end));
      i = end + 1;
    } else if (c === '"') {
      add('');
      i += 1;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) {
          add(line[i + 1]!);
          i += 2;
        } else if (line[i] === '$') {
          const [text, next] = expand(i);
          add(text);
          i = next;
        } else {
          add(line[i]!);
          i += 1;
        }
      }
      if (i >= line.length) throw new Error('unclosed double quote');
      i += 1;
    } else if (c === '\\') {
      add(line[i + 1] ?? '');
      i += 2;
    } else if (c === '$') {
      const [text, next] = expand(i);
      add(text);
      i = next;
    } else if ('|&;<>`'.includes(c)) {
      throw new Error(`the shell operator ${c} is not understood`);
    } else {
      add(c);
      i += 1;
    }
  }
  if (word !== null) words.push(word);
  return words;
};

/** Joins backslash-continued lines and drops comments and blank lines. */
export const commandLines = (block: string): string[] => {
  const joined = block.replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
};

export interface CurlRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** The request a curl command line makes (the flags the docs use: -s -X -H -d -D -). */
export const parseCurl = (words: string[]): CurlRequest => {
  if (words[0] !== 'curl') throw new Error(`not a curl command: ${words[0]}`);
  let method: string | undefined;
  let url: string | undefined;
  let body: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 1; i < words.length; i += 1) {
    const w = words[i]!;
    const value = () => {
      const v = words[i + 1];
      if (v === undefined) throw new Error(`${w} needs a value`);
      i += 1;
      return v;
    };
    if (w === '-s' || w === '-sS' || w === '-S') continue;
    if (w === '-X') method = value();
    else if (w === '-H') {
      const header = value();
      const colon = header.indexOf(':');
      if (colon < 1) throw new Error(`a header without a name: ${header}`);
      headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
    } else if (w === '-d' || w === '--data') body = value();
    else if (w === '-D') {
      if (value() !== '-') throw new Error('-D writes somewhere other than stdout');
    } else if (w.startsWith('-')) throw new Error(`the curl flag ${w} is not understood`);
    else if (url === undefined) url = w;
    else throw new Error(`a second URL: ${w}`);
  }
  if (!url) throw new Error('no URL');
  // curl -d alone sends a form, as the docs warn.
  if (body !== undefined && headers['content-type'] === undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  return { method: method ?? (body === undefined ? 'GET' : 'POST'), url, headers, body };
};

export interface CurlResult {
  status: number;
  text: string;
  headers: Headers;
}

export const runCurl = async (request: CurlRequest): Promise<CurlResult> => {
  const res = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
};

/** The fenced shell blocks (```sh / ```bash) of the `## ` sections with these titles. */
export const shellBlocks = (markdown: string, sections: string[]): string[] => {
  const blocks: string[] = [];
  let inSection = false;
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (/^## /.test(line)) inSection = sections.includes(line.slice(3).trim());
    if (!inSection || !/^```(sh|bash)\s*$/.test(line)) continue;
    const body: string[] = [];
    for (i += 1; i < lines.length && !/^```\s*$/.test(lines[i]!); i += 1) body.push(lines[i]!);
    blocks.push(body.join('\n'));
  }
  return blocks;
};
