// The figures `docker stats` shows, computed from the Engine API's stats samples.

// CPU percent from two samples of one container: `s` and its predecessor's `cpu_stats`
// (in `s.precpu_stats` when the daemon streamed both, or from the previous poll).
export function cpuPercent(s, pre = s.precpu_stats) {
  const cpu = s.cpu_stats?.cpu_usage?.total_usage - pre?.cpu_usage?.total_usage;
  const system = s.cpu_stats?.system_cpu_usage - pre?.system_cpu_usage;
  const online = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  return system > 0 && cpu > 0 ? (cpu / system) * online * 100 : 0;
}

// Memory less the inactive page cache, as `docker stats` shows it (cgroup v2 and v1 names).
export function memoryUsed(s) {
  const m = s.memory_stats || {};
  const cache = m.stats?.inactive_file ?? m.stats?.total_inactive_file ?? 0;
  return Math.max(0, (m.usage || 0) - cache);
}
