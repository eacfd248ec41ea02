// Picking a listing's picture variants. A listing carries its images as
// {url, width, height}: the thumbnail, medium and large variants of each
// picture, made once at ingest (never resized per request). The grid uses
// the thumbnail; the listing page offers medium and large through srcset.

function variants(l) {
  const all = (l.images || []).filter((i) => i && i.url);
  // The first picture's variants: the images of one picture share a stem.
  return all.slice().sort((a, b) => (a.width || 0) - (b.width || 0));
}

// thumb is the grid's picture: the smallest variant at least 150 px wide.
export function thumb(l) {
  const v = variants(l);
  const t = v.find((i) => (i.width || 0) >= 150) || v[0];
  return t ? { url: t.url, width: t.width || 150, height: t.height || 150 } : { url: placeholder(l), width: 150, height: 150 };
}

// srcset is the listing page's picture: medium as src, medium and large
// (by width) as srcset.
export function srcset(l) {
  const v = variants(l);
  if (!v.length) return { src: placeholder(l), srcset: '', width: 600, height: 600 };
  const big = v.filter((i) => (i.width || 0) >= 300);
  const use = big.length ? big : v;
  const medium = use[0];
  return {
    src: medium.url,
    srcset: use.map((i) => `${i.url} ${i.width}w`).join(', '),
    width: medium.width || 600,
    height: medium.height || 600,
  };
}

// placeholder is an inline picture for a listing whose image is missing or
// fails to load: never a broken image icon.
export function placeholder(l) {
  const initials = ((l && (l.brand || l.title)) || '?').slice(0, 2).toUpperCase();
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="150" height="150" viewBox="0 0 150 150"><rect width="150" height="150" fill="#ece7e1"/><text x="75" y="88" font-family="sans-serif" font-size="40" text-anchor="middle" fill="#9a8f84">${initials.replace(/[<&>"]/g, '')}</text></svg>`;
  return 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
}
