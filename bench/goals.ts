/**
 * The speed goals of issue 13, checked against this run's ratios: sections record what they
 * measured (`recordGoal`) and run.ts prints the summary at the top of BENCHMARKS.md, with what
 * stands in the way of each goal that is not met (from profiles: `node --cpu-prof`).
 */
export interface GoalResult {
  goal: string;
  measured: string;
  /** null: not measured in this run (skipped). */
  met: boolean | null;
  /** Shown when not met: what stands in the way, from the profile. */
  obstacle?: string;
  /**
   * A measure shown beside a goal rather than judged (e.g. the unprepared form of a workload
   * whose goal is recorded on its prepared form): marked "informational", obstacle shown.
   */
  info?: boolean;
}

const results: GoalResult[] = [];

export function recordGoal(r: GoalResult): void {
  results.push(r);
}

/** The goals recorded so far in this thread (a section run in a worker thread sends them to run.ts). */
export function recordedGoals(): GoalResult[] {
  return [...results];
}

export function goalsMarkdown(): string {
  const mark = (r: GoalResult) => (r.info ? 'informational' : r.met === null ? 'not measured' : r.met ? '**met**' : '**not met**');
  const lines = [
    '## Goals (issue 13), this run',
    '',
    '| goal | measured | status |',
    '|---|---|---|',
    ...results.map((r) => `| ${r.goal} | ${r.measured} | ${mark(r)} |`),
  ];
  const blocked = results.filter((r) => (r.met === false || r.info) && r.obstacle);
  if (blocked.length) {
    lines.push('', 'What stands in the way of the goals not met (and of the informational measures):', '');
    for (const r of blocked) lines.push(`- **${r.goal}** — ${r.obstacle}`);
  }
  return lines.join('\n');
}
