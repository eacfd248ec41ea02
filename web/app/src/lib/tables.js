// Shaping an analytics answer for a chart and a table without knowing its
// exact schema: the analytics endpoints answer JSON objects holding arrays
// of rows (top queries, per-minute funnels, per-drop arrivals). rows picks
// the first array of objects; series picks, from it, a time or label
// column for x and the numeric columns for y.

function arrays(v, out = []) {
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) out.push(v);
  } else if (v && typeof v === 'object') {
    for (const x of Object.values(v)) arrays(x, out);
  }
  return out;
}

// rows returns {cols, rows} of the answer's first non-empty array of
// objects, or null.
export function rows(ans) {
  const a = arrays(ans)[0];
  if (!a) return null;
  const cols = [];
  for (const r of a) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return { cols, rows: a };
}

const isTime = (v) => typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v));

// series returns {x, time, xs, labels, ys: [{name, values}]} for uPlot, or
// null when the rows have no numeric column.
export function series(ans) {
  const r = rows(ans);
  if (!r) return null;
  const num = r.cols.filter((c) => r.rows.some((x) => typeof x[c] === 'number'));
  if (!num.length) return null;
  const timeCol = r.cols.find((c) => r.rows.every((x) => isTime(x[c])));
  const labelCol = r.cols.find((c) => r.rows.every((x) => typeof x[c] === 'string'));
  const ys = num.slice(0, 3).map((c) => ({ name: c, values: r.rows.map((x) => (typeof x[c] === 'number' ? x[c] : null)) }));
  if (timeCol) {
    const order = r.rows.map((x, i) => [Date.parse(x[timeCol]) / 1000, i]).sort((a, b) => a[0] - b[0]);
    return { x: timeCol, time: true, xs: order.map((o) => o[0]), labels: [], ys: ys.map((y) => ({ name: y.name, values: order.map((o) => y.values[o[1]]) })) };
  }
  return { x: labelCol || 'row', time: false, xs: r.rows.map((_, i) => i), labels: r.rows.map((x, i) => (labelCol ? x[labelCol] : String(i + 1))), ys };
}
