// stats.mjs: the figures the benches report over rounds and samples.
// Shared by bench.mjs, api_bench.mjs, registry_bench.mjs, webhook_bench.mjs
// and settle_probe.mjs.

// The median of xs (numbers; the mean of the two middle ones for an even
// count).
export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

// The p-th percentile of xs (nearest rank: the smallest value with at
// least p % of xs at or below it).
export const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]; };
