using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using AgentSessions.Functions.Sessions;

namespace AgentSessions.Bench.InProcess;

/// <summary>
/// How many live sessions this machine holds in process: sessions are added a level at a time, each created
/// on a long task and paused and resumed once; a level holds when every create and command was acknowledged
/// within the bound and every session shows <c>running</c>. Memory is measured after a full GC at each level.
/// </summary>
public static class ScaleProbe
{
    public const int SessionsTarget = 1000;
    public const int CoresOfTarget = 2;

    public sealed record Settings(int Max, int Step, TimeSpan MaxTime, int Steps, int StepDelayMs, TimeSpan AckTimeout, EngineLimits Limits,
        BackendKind Backend, MessageStoreKind Messages, string? ReportPath);

    private sealed record Level(
        int Live, LatencySummary Create, LatencySummary Ack, long Failures, int Running, double StepsPerSecond, double IdealStepsPerSecond,
        long ManagedBytes, long WorkingSetBytes, double ManagedPerSession, double WorkingSetPerSession, TimeSpan Elapsed, bool Held, string? Why,
        double[] AckSamples);

    public static Settings Read(Cli cli)
    {
        cli.AllowOnly("max", "step", "max-seconds", "steps", "step-delay-ms", "ack-timeout", "orchestration-slots", "activity-slots",
            "engine", "messages", "report");
        var backend = EngineChoice.Backend(cli);
        return new Settings(
            cli.Int("max", SessionsTarget, 1, 1_000_000),
            cli.Int("step", 100, 1, 1_000_000),
            TimeSpan.FromSeconds(cli.Double("max-seconds", 180, 1, 24 * 3600)),
            cli.Int("steps", 1000, 1, 1000),
            cli.Int("step-delay-ms", 500, 0, 600_000),
            TimeSpan.FromSeconds(cli.Double("ack-timeout", 10, 0.1, 300)),
            EngineLimits.Read(cli, backend),
            backend,
            EngineChoice.Messages(cli, backend),
            cli.String("report"));
    }

    public static async Task<int> RunAsync(Settings settings)
    {
        Progress.Log($"scale: starting the Durable Task engine ({EngineChoice.Name(settings.Backend)} backend; messages " +
            (settings.Messages == MessageStoreKind.Table ? "to Table storage on Azurite)…" : "counted, not kept)…"));
        var clock = Stopwatch.StartNew();
        var engine = await Engine.StartAsync(new SessionsOptions { AckTimeout = settings.AckTimeout }, settings.Limits, retainMessages: false,
            settings.Backend, settings.Messages);
        var driver = new SessionDriver(engine, viaGateway: false);
        var goal = Workload.Goal(settings.Steps, settings.StepDelayMs, "scale");
        Progress.Log($"scale: up to {settings.Max} sessions, {settings.Step} per level, agent steps every {settings.StepDelayMs} ms, " +
            $"time cap {settings.MaxTime.TotalSeconds:0} s, engine: {engine.Limits}");

        var warm = new PhaseMetrics();
        var warmSessions = await Workload.CreateSessionsAsync(driver, 4, 4, goal, warm, "warm-up");
        await Workload.RunCommandLoopAsync(driver, warmSessions, TimeSpan.FromSeconds(0.5), goal, warm, "warm-up");
        await Workload.DeleteSessionsAsync(driver, warmSessions, 4, warm.Errors, "warm-up");
        var (baseManaged, baseWorkingSet) = MeasureMemory();

        var live = new List<string>();
        var levels = new List<Level>();
        var errors = new ErrorCounts();
        string stop = "reached --max";
        var cappedByTime = false;
        var lastLevel = TimeSpan.Zero;
        while (live.Count < settings.Max)
        {
            // Levels get slower as sessions are added (1.5 times the last one is the guess): stop before one
            // that would end past the cap. A level under way always finishes, so a saturated machine can overshoot.
            if (clock.Elapsed + 1.5 * lastLevel >= settings.MaxTime)
            {
                stop = $"time cap ({settings.MaxTime.TotalSeconds:0} s; the next level would have ended past it)";
                cappedByTime = true;
                break;
            }

            var levelStarted = clock.Elapsed;

            var target = Math.Min(live.Count + settings.Step, settings.Max);
            var name = $"scale {target}";
            var metrics = new PhaseMetrics();
            var added = await Workload.CreateSessionsAsync(driver, target - live.Count, 32, goal, metrics, name);
            live.AddRange(added);
            await OnePauseResumeEachAsync(driver, added, metrics, name);
            var (running, stepsPerSecond) = await ObserveAsync(engine, live, settings.StepDelayMs, name);
            var (managed, workingSet) = MeasureMemory();
            var failures = metrics.Errors.Total;
            errors.AddRange(metrics.Errors);
            var held = failures == 0 && running == live.Count && live.Count == target;
            var why = held ? null : failures > 0 ? $"{failures} create/command failures" : $"{live.Count - running} sessions not running";
            var level = new Level(live.Count, metrics.Create.Summarize(), metrics.Ack.Summarize(), failures, running, stepsPerSecond,
                settings.StepDelayMs == 0 ? double.NaN : live.Count * 1000.0 / settings.StepDelayMs,
                managed, workingSet, (managed - baseManaged) / (double)live.Count, (workingSet - baseWorkingSet) / (double)live.Count,
                clock.Elapsed, held, why, metrics.Ack.Snapshot());
            levels.Add(level);
            lastLevel = clock.Elapsed - levelStarted;
            Progress.Log($"  [{name}] {(held ? "held" : "NOT held: " + why)}; create p99 {Format.Ms(level.Create.P99)} ms, ack p99 {Format.Ms(level.Ack.P99)} ms, " +
                $"steps {stepsPerSecond:0}/s, managed {Format.Mb(managed)} MB ({Format.Kb(level.ManagedPerSession)} KB/session), " +
                $"working set {Format.Mb(workingSet)} MB");
            if (!held)
            {
                stop = $"level {target} not held: {why}";
                break;
            }
        }

        Progress.Log($"scale: stopping ({stop}); shutting the engine down…");
        var report = Report(settings, engine, levels, errors, stop, cappedByTime, baseManaged, baseWorkingSet, clock.Elapsed);
        using (var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await engine.DisposeAsync().AsTask().WaitAsync(shutdown.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        return report;
    }

    private static async Task OnePauseResumeEachAsync(ISessionDriver driver, IReadOnlyList<string> sessions, PhaseMetrics metrics, string phase)
    {
        var done = 0;
        await using (Progress.Start(phase, () => $"pause/resume {Volatile.Read(ref done)}/{sessions.Count}"))
        {
            await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (session, token) =>
            {
                foreach (var kind in new[] { Workload.Pause, Workload.Resume })
                {
                    var started = Stopwatch.GetTimestamp();
                    CallOutcome outcome;
                    try
                    {
                        outcome = await driver.CommandAsync(session, kind, null, token);
                    }
                    catch (Exception exception)
                    {
                        outcome = CallOutcome.FromException(exception);
                    }

                    if (outcome.Ok)
                    {
                        metrics.Ack.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                    else
                    {
                        metrics.Errors.Add(kind, outcome.Code);
                    }
                }

                Interlocked.Increment(ref done);
            });
        }
    }

    /// <summary>How many sessions show running, and how many agent steps per second they make together (one THOUGHT per step).</summary>
    private static async Task<(int Running, double StepsPerSecond)> ObserveAsync(Engine engine, IReadOnlyList<string> sessions, int stepDelayMs, string phase)
    {
        var (running, before) = await ReadAllAsync(engine, sessions);
        var started = Stopwatch.GetTimestamp();
        await using (Progress.Start(phase, () => "observing agent steps"))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(1000, 2 * stepDelayMs)));
        }

        var (_, after) = await ReadAllAsync(engine, sessions);
        return (running, (after - before) / Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private static async Task<(int Running, long MessageIds)> ReadAllAsync(Engine engine, IReadOnlyList<string> sessions)
    {
        var running = 0;
        long ids = 0;
        await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (session, token) =>
        {
            var metadata = await engine.Client.GetInstanceAsync(SessionIds.InstanceId(Engine.Owner, session), getInputsAndOutputs: true, token);
            if (SessionGateway.ReadView(metadata) is { } view)
            {
                Interlocked.Add(ref ids, view.LastMessageId);
                if (view.Status == "running")
                {
                    Interlocked.Increment(ref running);
                }
            }
        });
        return (running, ids);
    }

    private static (long Managed, long WorkingSet) MeasureMemory()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        using var process = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: false), process.WorkingSet64);
    }

    private static int Report(
        Settings settings, Engine engine, List<Level> levels, ErrorCounts errors, string stop, bool cappedByTime, long baseManaged, long baseWorkingSet,
        TimeSpan elapsed)
    {
        var limits = engine.Limits;
        var stdout = Console.Out;
        var held = levels.Where(l => l.Held).Select(l => l.Live).DefaultIfEmpty(0).Max();
        var top = levels.LastOrDefault(l => l.Held);
        stdout.WriteLine();
        var title = settings.Backend == BackendKind.AzureStorage ? "Scale probe (in process, Azure Storage on Azurite)" : "Scale probe (in process)";
        stdout.WriteLine($"{title}: sessions added {settings.Step} at a time, each created on a [steps={settings.Steps}] " +
            $"[delay={settings.StepDelayMs}] task and paused and resumed once; all stay live. Stopped: {stop}. " +
            $"Took {elapsed.TotalSeconds:0} s.");
        stdout.WriteLine(settings.Backend == BackendKind.AzureStorage
            ? $"Engine: {engine.Describe()}. Memory is this whole process after a full GC, less the baseline before the first session: the " +
              "client, the worker and the Azure Storage provider's caches (extended sessions, control-queue messages); Azurite's own memory " +
              "(a separate node process, standing in for the storage account) is not counted."
            : $"Engine: {engine.Describe()}. " +
              "Memory is this whole process after a full GC, less the baseline before the first session: the client, the worker and the " +
              "in-memory backend that stands in for Azure Storage (its history is on the storage account in production). Messages are not kept " +
              "(they live in Table storage in production).");
        stdout.WriteLine($"Baseline: managed {Format.Mb(baseManaged)} MB, working set {Format.Mb(baseWorkingSet)} MB. Machine: {Environment.ProcessorCount} cores." + MachineLoad.Describe());

        var table = new Table("live", "held", "create p50", "create p99", "ack p50", "ack p99", "failures", "running", "steps/s", "ideal steps/s",
            "managed MB", "KB/session", "working set MB", "KB/session", "elapsed s");
        foreach (var l in levels)
        {
            table.Add(l.Live.ToString(CultureInfo.InvariantCulture), l.Held ? "yes" : "no", Format.Ms(l.Create.P50), Format.Ms(l.Create.P99),
                Format.Ms(l.Ack.P50), Format.Ms(l.Ack.P99), l.Failures.ToString(CultureInfo.InvariantCulture),
                l.Running.ToString(CultureInfo.InvariantCulture), Format.Rate(l.StepsPerSecond), Format.Rate(l.IdealStepsPerSecond),
                Format.Mb(l.ManagedBytes), Format.Kb(l.ManagedPerSession), Format.Mb(l.WorkingSetBytes), Format.Kb(l.WorkingSetPerSession),
                l.Elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture));
        }

        table.Write(stdout, "Levels (latencies in ms, for the sessions added at that level; steps/s over all live sessions)");

        var targets = new Table("figure", "measured", "target", "verdict");
        var met = held >= SessionsTarget;
        // Missed only if a level failed; stopping at --max or at the time cap first leaves the target untested.
        var probed = met || levels.Any(l => !l.Held);
        var verdict = probed ? (met ? "met" : "missed")
            : cappedByTime ? $"n/a (time cap hit at {held}; raise --max-seconds)"
            : $"n/a (--max {settings.Max} is below the target)";
        if (probed && Environment.ProcessorCount != CoresOfTarget)
        {
            verdict += $" (on {Environment.ProcessorCount} cores)";
        }

        targets.Add("concurrent live sessions held", held.ToString(CultureInfo.InvariantCulture), $">= {SessionsTarget} on {CoresOfTarget} cores", verdict);
        if (top is not null)
        {
            targets.Add("managed memory per session (KB)", Format.Kb(top.ManagedPerSession), "-", "-");
            targets.Add("working set per session (KB)", Format.Kb(top.WorkingSetPerSession), "-", "-");
        }

        targets.Write(stdout, "Target (reported, not asserted)");
        InProcessBenchmark.WriteErrors(stdout, [("scale", errors)]);

        Json.WriteLine("scale", new JsonObject
        {
            ["config"] = new JsonObject
            {
                ["engine"] = EngineChoice.Name(settings.Backend),
                ["message_store"] = engine.StoreName,
                ["max"] = settings.Max,
                ["step"] = settings.Step,
                ["max_seconds"] = settings.MaxTime.TotalSeconds,
                ["steps"] = settings.Steps,
                ["step_delay_ms"] = settings.StepDelayMs,
                ["orchestration_slots"] = limits.OrchestrationSlots,
                ["activity_slots"] = limits.ActivitySlots,
            },
            ["machine"] = Json.Machine(),
            ["stopped"] = stop,
            ["elapsed_s"] = Json.Number(elapsed.TotalSeconds),
            ["held_sessions"] = held,
            ["baseline_managed_bytes"] = baseManaged,
            ["baseline_working_set_bytes"] = baseWorkingSet,
            ["managed_bytes_per_session"] = top is null ? null : Json.Number(top.ManagedPerSession, 0),
            ["working_set_bytes_per_session"] = top is null ? null : Json.Number(top.WorkingSetPerSession, 0),
            ["levels"] = new JsonArray([.. levels.Select(l => (JsonNode)new JsonObject
            {
                ["live"] = l.Live,
                ["held"] = l.Held,
                ["create"] = Json.Latency(l.Create),
                ["ack"] = Json.Latency(l.Ack),
                ["failures"] = l.Failures,
                ["running"] = l.Running,
                ["steps_per_s"] = Json.Number(l.StepsPerSecond),
                ["ideal_steps_per_s"] = Json.Number(l.IdealStepsPerSecond),
                ["managed_bytes"] = l.ManagedBytes,
                ["working_set_bytes"] = l.WorkingSetBytes,
                ["elapsed_s"] = Json.Number(l.Elapsed.TotalSeconds),
            })]),
            ["targets"] = new JsonObject
            {
                ["sessions"] = SessionsTarget,
                ["cores"] = CoresOfTarget,
                ["met"] = probed ? met : null,
            },
            ["errors"] = Json.Errors(errors),
        });

        if (settings.ReportPath is not null)
        {
            WriteHtml(settings, title, levels);
        }

        return levels.Count > 0 ? 0 : 2;
    }

    private static void WriteHtml(Settings settings, string title, List<Level> levels)
    {
        var report = new HtmlReport(title);
        report.Paragraph($"Sessions added {settings.Step} at a time up to {settings.Max}, each on a [steps={settings.Steps}] [delay={settings.StepDelayMs}] " +
            $"task, paused and resumed once; engine {EngineChoice.Name(settings.Backend)}. There is no bare reference in this mode: the " +
            "distributions are of the sessions added at each level.");
        report.Heading("Acknowledgement latency by level");
        var picked = levels.Count <= HtmlReport.Palette.Length ? levels
            : [.. Enumerable.Range(0, HtmlReport.Palette.Length).Select(i => levels[(int)Math.Round(i * (levels.Count - 1.0) / (HtmlReport.Palette.Length - 1))]).Distinct()];
        report.Cdf("Cumulative distribution of pause/resume acknowledgement latency of the sessions added at each level.",
            [.. picked.Select((l, i) => new ChartSeries($"{l.Live} live", HtmlReport.Palette[i % HtmlReport.Palette.Length], l.AckSamples))]);
        if (levels.Count > 0)
        {
            report.Histograms("Share of acknowledgements per latency bin, first and last level side by side.",
                [new ChartSeries($"{levels[0].Live} live", HtmlReport.OursColor, levels[0].AckSamples),
                 new ChartSeries($"{levels[^1].Live} live", HtmlReport.BareColor, levels[^1].AckSamples)]);
        }

        report.Heading("Latency and agent steps per second as sessions are added");
        report.Timeline("Ack p50 and p99 (ms) of each level's new sessions, by live sessions.", "ms",
            [new TimeSeries("ack p50", HtmlReport.OursColor, [.. levels.Select(l => ((double)l.Live, l.Ack.P50))]),
             new TimeSeries("ack p99", HtmlReport.BareColor, [.. levels.Select(l => ((double)l.Live, l.Ack.P99))])],
            xLabel: "live sessions", gap: double.PositiveInfinity);
        report.Timeline("Agent steps per second over all live sessions (measured vs. what the step delay allows).", "steps/s",
            [new TimeSeries("measured", HtmlReport.OursColor, [.. levels.Select(l => ((double)l.Live, l.StepsPerSecond))]),
             new TimeSeries("ideal", "#999", [.. levels.Where(l => !double.IsNaN(l.IdealStepsPerSecond)).Select(l => ((double)l.Live, l.IdealStepsPerSecond))])],
            xLabel: "live sessions", gap: double.PositiveInfinity);
        if (TeeWriter.Current is { } tee)
        {
            report.Preformatted("Text results", tee.Captured);
        }

        report.Save(settings.ReportPath!);
    }
}
