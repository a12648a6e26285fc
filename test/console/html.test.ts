import { escapeHtml, html, raw, seg } from '../../functions/console/html';

describe('the console template', () => {
  it('escapes every interpolated string, in text and in attributes', () => {
    const id = `20"><script>alert('x')</script>&`;
    const out = html`<a href="/console/users/${id}" title="${id}">${id}</a>`.text;
    expect(out).toBe(
      '<a href="/console/users/20&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;" title="20&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">20&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</a>',
    );
    expect(out).not.toContain('<script>');
  });

  it('embeds markup built by the template itself as it is, and escapes inside it', () => {
    const inner = html`<em>${'<b>'}</em>`;
    expect(html`<p>${inner}</p>`.text).toBe('<p><em>&lt;b&gt;</em></p>');
  });

  it('joins arrays item by item, each escaped or embedded', () => {
    const items = ['<i>', html`<li>${'a&b'}</li>`, 3];
    expect(html`<ul>${items}</ul>`.text).toBe('<ul>&lt;i&gt;<li>a&amp;b</li>3</ul>');
  });

  it('writes nothing for null, undefined and false, and numbers as text', () => {
    expect(html`[${null}${undefined}${false}${0}${true}]`.text).toBe('[0true]');
  });

  it('embeds raw() fragments unescaped, and only those', () => {
    expect(html`${raw('<svg></svg>')}${'<svg>'}`.text).toBe('<svg></svg>&lt;svg&gt;');
  });

  it('escapes a backtick and both quotes, so no attribute can be closed early', () => {
    expect(escapeHtml(`"'\``)).toBe('&quot;&#39;&#96;');
  });

  it('encodes a user id for a path segment', () => {
    expect(seg('a b/c?<')).toBe('a%20b%2Fc%3F%3C');
  });
});
