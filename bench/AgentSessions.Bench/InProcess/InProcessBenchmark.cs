using System.Globalization;
using System.Text.Json.Nodes;
using AgentSessions.Functions.Sessions;
using AgentSessions.Testing;

namespace AgentSessions.Bench.InProcess;

/// <summary>
/// The same command pattern against the real session orchestration ("ours") and the bare reference, in
/// alternating phases on one in-process engine (ours, bare, then bare, ours, … so neither always goes first):
/// the in-memory backend by default, or with <c>--engine azure-storage</c> the Azure Storage provider on an
/// Azurite the tool starts.
/// </summary>
public static class InProcessBenchmark
{
    public const double AckRatioTarget = 1.15;

    /// <summary>The issue's target for the tail (p95, p99): ours at most 1.5 times the bare orchestration's.</summary>
    public const double AckTailRatioTarget = 1.5;
    public const double ThroughputRatioTarget = 0.9;

    public sealed record Settings(
        int Sessions, TimeSpan Duration, int Rounds, int Steps, int StepDelayMs, bool ViaGateway, TimeSpan AckTimeout,
        TimeSpan MessageSeconds, EngineLimits Limits, BackendKind Backend, MessageStoreKind Messages, string? ReportPath,
        int CommandsPerGeneration = 100);

    public static Settings Read(Cli cli)
    {
        cli.AllowOnly("sessions", "duration", "rounds", "steps", "step-delay-ms", "client", "ack-timeout", "message-seconds",
            "orchestration-slots", "activity-slots", "engine", "messages", "report", "commands-per-generation");
        var backend = EngineChoice.Backend(cli);
        var duration = cli.Double("duration", 40, 1, 24 * 3600);
        return new Settings(
            cli.Int("sessions", 20, 1, 100_000),
            TimeSpan.FromSeconds(duration),
            cli.Int("rounds", 2, 1, 100),
            cli.Int("steps", 1000, 1, 1000),
            cli.Int("step-delay-ms", 500, 0, 600_000),
            cli.Choice("client", "raw", "raw", "gateway") == "gateway",
            TimeSpan.FromSeconds(cli.Double("ack-timeout", 10, 0.1, 300)),
            TimeSpan.FromSeconds(cli.Double("message-seconds", Math.Clamp(duration / 8, 1, 5), 0.5, 3600)),
            EngineLimits.Read(cli, backend),
            backend,
            EngineChoice.Messages(cli, backend),
            cli.String("report"),
            cli.Int("commands-per-generation", new SessionsOptions().CommandsPerGeneration, 1, 100_000));
    }

    public static async Task<int> RunAsync(Settings settings)
    {
        var options = new SessionsOptions { AckTimeout = settings.AckTimeout, CommandsPerGeneration = settings.CommandsPerGeneration };
        Progress.Log($"in-process: starting the Durable Task engine ({EngineChoice.Name(settings.Backend)} backend, " +
            $"{(settings.Messages == MessageStoreKind.Table ? "Table storage" : "in-memory")} message store)…");
        await using var engine = await Engine.StartAsync(options, settings.Limits, retainMessages: true, settings.Backend, settings.Messages);
        var ours = new SessionDriver(engine, settings.ViaGateway);
        var bare = new BareDriver(engine);
        var goal = Workload.Goal(settings.Steps, settings.StepDelayMs, "in-process");
        var phaseLength = settings.Duration / (settings.Rounds * 2);
        var parallelism = Math.Min(settings.Sessions, 16);
        Progress.Log($"in-process: {settings.Sessions} sessions per phase, {settings.Rounds} round(s) of ours+bare, " +
            $"{phaseLength.TotalSeconds:0.0} s of commands per phase, agent steps every {settings.StepDelayMs} ms, " +
            $"engine: {engine.Limits}");

        await WarmUpAsync(ours, bare, goal, Math.Min(settings.Sessions, 8), TimeSpan.FromSeconds(Math.Clamp(settings.Duration.TotalSeconds / 10, 0.5, 3)));

        var phases = new List<Phase>();
        for (var round = 1; round <= settings.Rounds; round++)
        {
            ISessionDriver[] order = round % 2 == 1 ? [ours, bare] : [bare, ours];
            foreach (var driver in order)
            {
                var name = $"round {round} {driver.Name}";
                var metrics = new PhaseMetrics();
                var polls = new PollCounter();
                if (driver == ours)
                {
                    ours.Polls = polls;
                }
                else
                {
                    bare.Polls = polls;
                }
                var sessions = await Workload.CreateSessionsAsync(driver, settings.Sessions, parallelism, goal, metrics, name);
                await Workload.RunCommandLoopAsync(driver, sessions, phaseLength, goal, metrics, name);
                if (driver == ours && round == settings.Rounds)
                {
                    ours.Polls = new PollCounter(); // the probes' commands are not part of the comparison
                    var thoughtTimeout = settings.AckTimeout + TimeSpan.FromMilliseconds(settings.StepDelayMs * 3) + TimeSpan.FromSeconds(5);
                    await Workload.RunMessageProbesAsync(ours, sessions, settings.MessageSeconds, goal, thoughtTimeout, metrics, name + " messages");
                    await Workload.RunReadsAsync(ours, sessions, settings.MessageSeconds, metrics, name + " reads");
                }

                // Read before the delete: a terminate adds events of its own.
                var history = sessions
                    .Select(s => engine.HistoryOf(driver == ours ? SessionIds.InstanceId(Engine.Owner, s) : s))
                    .OfType<HistoryRecord>()
                    .ToList();
                await Workload.DeleteSessionsAsync(driver, sessions, 32, metrics.Errors, name + " cleanup");
                phases.Add(new Phase(round, driver, metrics, polls, history));
                Settle();
            }
        }

        return Report(settings, engine, phases, ours, bare);
    }

    private sealed record Phase(int Round, ISessionDriver Driver, PhaseMetrics Metrics, PollCounter Polls, List<HistoryRecord> History);

    /// <summary>A few sessions of each kind, unrecorded, so JIT and connection set-up land in no phase.</summary>
    private static async Task WarmUpAsync(ISessionDriver ours, ISessionDriver bare, string goal, int sessionCount, TimeSpan length)
    {
        foreach (var driver in new[] { ours, bare })
        {
            var scratch = new PhaseMetrics();
            var sessions = await Workload.CreateSessionsAsync(driver, sessionCount, sessionCount, goal, scratch, "warm-up");
            await Workload.RunCommandLoopAsync(driver, sessions, length, goal, scratch, "warm-up");
            await Workload.DeleteSessionsAsync(driver, sessions, sessionCount, scratch.Errors, "warm-up");
        }

        Settle();
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Thread.Sleep(300);
    }

    private static int Report(Settings settings, Engine engine, List<Phase> phases, ISessionDriver ours, ISessionDriver bare)
    {
        var limits = engine.Limits;
        PollCounter PollsOf(ISessionDriver driver)
        {
            var total = new PollCounter();
            foreach (var p in phases.Where(p => p.Driver == driver))
            {
                total.Polls += p.Polls.Polls;
                total.PayloadChars += p.Polls.PayloadChars;
                total.Waits += p.Polls.Waits;
            }

            return total;
        }

        PhaseMetrics Pool(ISessionDriver driver)
        {
            var pooled = new PhaseMetrics();
            foreach (var m in phases.Where(p => p.Driver == driver).Select(p => p.Metrics))
            {
                pooled.Create.AddRange(m.Create);
                pooled.Pause.AddRange(m.Pause);
                pooled.Resume.AddRange(m.Resume);
                pooled.Ack.AddRange(m.Ack);
                pooled.MessageAck.AddRange(m.MessageAck);
                pooled.FirstThought.AddRange(m.FirstThought);
                pooled.Read.AddRange(m.Read);
                pooled.Errors.AddRange(m.Errors);
                pooled.Restarts += m.Restarts;
            }

            return pooled;
        }

        double Throughput(ISessionDriver driver)
        {
            var windows = phases.Where(p => p.Driver == driver).Select(p => p.Metrics.Commands!).ToList();
            return windows.Sum(w => w.Total) / windows.Sum(w => w.Length.TotalSeconds);
        }

        HistoryFigures HistoryOf(ISessionDriver driver) => InProcessBenchmark.HistoryOf(phases.Where(p => p.Driver == driver));

        var o = Pool(ours);
        var b = Pool(bare);
        var oAck = o.Ack.Summarize();
        var bAck = b.Ack.Summarize();
        var oRate = Throughput(ours);
        var bRate = Throughput(bare);
        var messagePhase = phases.Last(p => p.Driver == ours).Metrics;

        var stdout = Console.Out;
        stdout.WriteLine();
        var engineTitle = settings.Backend == BackendKind.AzureStorage ? "Azure Storage benchmark (in process, Azurite)" : "In-process benchmark";
        stdout.WriteLine($"{engineTitle}: {settings.Sessions} sessions per phase, {settings.Rounds} round(s), " +
            $"{(settings.Duration / (settings.Rounds * 2)).TotalSeconds:0.0} s of closed-loop pause/resume per phase; " +
            $"agent task [steps={settings.Steps}] [delay={settings.StepDelayMs}]; commands via " +
            (settings.ViaGateway ? "SessionGateway.SendAsync (ours) / raise+poll (bare)" : "the same raise+poll client for both") + ".");
        stdout.WriteLine($"Engine: {engine.Describe()}. Machine: {Environment.ProcessorCount} cores." + MachineLoad.Describe());

        var latency = new Table(Format.LatencyHeaders);
        foreach (var (label, metrics) in new[] { ("ours", o), ("bare", b) })
        {
            latency.Add(Format.LatencyCells($"{label} create", metrics.Create.Summarize()));
            latency.Add(Format.LatencyCells($"{label} pause ack", metrics.Pause.Summarize()));
            latency.Add(Format.LatencyCells($"{label} resume ack", metrics.Resume.Summarize()));
            latency.Add(Format.LatencyCells($"{label} ack (pause+resume)", metrics.Ack.Summarize()));
        }

        latency.Add(Format.LatencyCells("ours message ack", o.MessageAck.Summarize()));
        latency.Add(Format.LatencyCells($"ours message → first THOUGHT*", o.FirstThought.Summarize()));
        latency.Add(Format.LatencyCells("ours messages read", o.Read.Summarize()));
        latency.Write(stdout, "Latency, all rounds pooled");
        stdout.WriteLine($"* includes the agent's {settings.StepDelayMs} ms step delay: the new task's first step must run before its THOUGHT exists.");

        var rounds = new Table("round", "ours acked/s", "bare acked/s", "ratio", "ours ack p50", "bare ack p50", "ratio", "ours p99", "bare p99", "ratio",
            "ours create p50", "bare create p50", "ratio");
        for (var round = 1; round <= settings.Rounds; round++)
        {
            var om = phases.Single(p => p.Round == round && p.Driver == ours).Metrics;
            var bm = phases.Single(p => p.Round == round && p.Driver == bare).Metrics;
            var (oa, ba) = (om.Ack.Summarize(), bm.Ack.Summarize());
            rounds.Add(round.ToString(CultureInfo.InvariantCulture),
                Format.Rate(om.Commands!.PerSecond), Format.Rate(bm.Commands!.PerSecond), Format.Ratio(om.Commands.PerSecond / bm.Commands.PerSecond),
                Format.Ms(oa.P50), Format.Ms(ba.P50), Format.Ratio(oa.P50 / ba.P50),
                Format.Ms(oa.P99), Format.Ms(ba.P99), Format.Ratio(oa.P99 / ba.P99),
                Format.Ms(om.Create.Summarize().P50), Format.Ms(bm.Create.Summarize().P50), Format.Ratio(om.Create.Summarize().P50 / bm.Create.Summarize().P50));
        }

        rounds.Write(stdout, "Per round (the spread between rounds is the run's noise)");

        var targets = new Table("figure", "ours", "bare", "ours/bare", "target", "verdict");
        var ratios = new JsonObject();
        foreach (var (name, ov, bv) in new[] { ("ack p50", oAck.P50, bAck.P50), ("ack p95", oAck.P95, bAck.P95), ("ack p99", oAck.P99, bAck.P99) })
        {
            var ratio = ov / bv;
            var target = name == "ack p50" ? AckRatioTarget : AckTailRatioTarget;
            targets.Add(name + " (ms)", Format.Ms(ov), Format.Ms(bv), Format.Ratio(ratio), $"<= {target:0.00}",
                Format.Verdict(ratio, ratio <= target));
            ratios[name.Replace(' ', '_')] = Json.Number(ratio, 3);
        }

        var throughputRatio = oRate / bRate;
        targets.Add("acked commands/s", Format.Rate(oRate), Format.Rate(bRate), Format.Ratio(throughputRatio), $">= {ThroughputRatioTarget:0.00}",
            Format.Verdict(throughputRatio, throughputRatio >= ThroughputRatioTarget));
        ratios["throughput"] = Json.Number(throughputRatio, 3);
        var (oPolls, bPolls) = (PollsOf(ours), PollsOf(bare));
        if (!settings.ViaGateway)
        {
            targets.Add("instance reads per ack", Format.Ratio(oPolls.PollsPerWait), Format.Ratio(bPolls.PollsPerWait),
                Format.Ratio(oPolls.PollsPerWait / bPolls.PollsPerWait), "-", "-");
            targets.Add("KB per read (input + status)", Format.Kb(oPolls.PayloadBytesPerPoll), Format.Kb(bPolls.PayloadBytesPerPoll),
                Format.Ratio(oPolls.PayloadBytesPerPoll / bPolls.PayloadBytesPerPoll), "-", "-");
        }

        var (oCreate, bCreate) = (o.Create.Summarize(), b.Create.Summarize());
        targets.Add("create p50 (ms)", Format.Ms(oCreate.P50), Format.Ms(bCreate.P50), Format.Ratio(oCreate.P50 / bCreate.P50), $"<= {CreateRatioTarget:0.00}",
            Format.Verdict(oCreate.P50 / bCreate.P50, oCreate.P50 / bCreate.P50 <= CreateRatioTarget));
        ratios["create_p50"] = Json.Number(oCreate.P50 / bCreate.P50, 3);
        var (oHistory, bHistory) = (HistoryOf(ours), HistoryOf(bare));
        targets.Add("history events per generation, max", Count(oHistory.Max), Count(bHistory.Max), Format.Ratio((double)oHistory.Max / bHistory.Max), "-", "-");
        targets.Add("history events per generation, mean of sessions' max", Format.Rate(oHistory.Mean), Format.Rate(bHistory.Mean),
            Format.Ratio(oHistory.Mean / bHistory.Mean), "-", "-");
        targets.Add("generations per session (executions seen)", Format.Ratio(oHistory.Generations), Format.Ratio(bHistory.Generations), "-", "-", "-");
        targets.Write(stdout, "Ours against the bare orchestration (reported, not asserted)");

        var other = new Table("figure", "value");
        other.Add("ours messages reads/s", Format.Rate(messagePhase.Reads?.PerSecond ?? double.NaN));
        other.Add("ours messages read/s", Format.Rate(messagePhase.Reads is { } w ? messagePhase.MessagesRead / w.Length.TotalSeconds : double.NaN));
        other.Add("ours slowest second, acked commands", Format.Rate(phases.Where(p => p.Driver == ours).Min(p => p.Metrics.Commands!.SlowestSecond)));
        other.Add("bare slowest second, acked commands", Format.Rate(phases.Where(p => p.Driver == bare).Min(p => p.Metrics.Commands!.SlowestSecond)));
        other.Add("ours task restarts (task ended)", o.Restarts.ToString(CultureInfo.InvariantCulture));
        other.Write(stdout, "Throughput");

        WriteErrors(stdout, [("ours", o.Errors), ("bare", b.Errors)]);

        Json.WriteLine("inprocess", new JsonObject
        {
            ["config"] = new JsonObject
            {
                ["sessions"] = settings.Sessions,
                ["duration_s"] = settings.Duration.TotalSeconds,
                ["rounds"] = settings.Rounds,
                ["phase_s"] = Json.Number((settings.Duration / (settings.Rounds * 2)).TotalSeconds, 2),
                ["steps"] = settings.Steps,
                ["step_delay_ms"] = settings.StepDelayMs,
                ["client"] = settings.ViaGateway ? "gateway" : "raw",
                ["engine"] = EngineChoice.Name(settings.Backend),
                ["message_store"] = engine.StoreName,
                ["orchestration_slots"] = limits.OrchestrationSlots,
                ["activity_slots"] = limits.ActivitySlots,
            },
            ["machine"] = Json.Machine(),
            ["ours"] = new JsonObject
            {
                ["create"] = Json.Latency(o.Create.Summarize()),
                ["pause_ack"] = Json.Latency(o.Pause.Summarize()),
                ["resume_ack"] = Json.Latency(o.Resume.Summarize()),
                ["ack"] = Json.Latency(oAck),
                ["message_ack"] = Json.Latency(o.MessageAck.Summarize()),
                ["message_to_first_thought"] = Json.Latency(o.FirstThought.Summarize()),
                ["messages_read"] = Json.Latency(o.Read.Summarize()),
                ["acked_commands_per_s"] = Json.Number(oRate),
                ["message_reads_per_s"] = Json.Number(messagePhase.Reads?.PerSecond ?? double.NaN),
                ["messages_read_per_s"] = Json.Number(messagePhase.Reads is { } r ? messagePhase.MessagesRead / r.Length.TotalSeconds : double.NaN),
                ["reads_per_ack"] = Json.Number(oPolls.PollsPerWait, 2),
                ["bytes_per_read"] = Json.Number(oPolls.PayloadBytesPerPoll, 0),
                ["history_events_per_generation"] = HistoryJson(oHistory),
                ["errors"] = Json.Errors(o.Errors),
            },
            ["bare"] = new JsonObject
            {
                ["create"] = Json.Latency(b.Create.Summarize()),
                ["pause_ack"] = Json.Latency(b.Pause.Summarize()),
                ["resume_ack"] = Json.Latency(b.Resume.Summarize()),
                ["ack"] = Json.Latency(bAck),
                ["acked_commands_per_s"] = Json.Number(bRate),
                ["reads_per_ack"] = Json.Number(bPolls.PollsPerWait, 2),
                ["bytes_per_read"] = Json.Number(bPolls.PayloadBytesPerPoll, 0),
                ["history_events_per_generation"] = HistoryJson(bHistory),
                ["errors"] = Json.Errors(b.Errors),
            },
            ["ratios"] = ratios,
            ["per_round"] = new JsonArray([.. Enumerable.Range(1, settings.Rounds).Select(round =>
            {
                var om = phases.Single(p => p.Round == round && p.Driver == ours).Metrics;
                var bm = phases.Single(p => p.Round == round && p.Driver == bare).Metrics;
                return (JsonNode)new JsonObject
                {
                    ["round"] = round,
                    ["ack_p50_ratio"] = Json.Number(om.Ack.Summarize().P50 / bm.Ack.Summarize().P50, 3),
                    ["ack_p99_ratio"] = Json.Number(om.Ack.Summarize().P99 / bm.Ack.Summarize().P99, 3),
                    ["throughput_ratio"] = Json.Number(om.Commands!.PerSecond / bm.Commands!.PerSecond, 3),
                    ["create_p50_ratio"] = Json.Number(om.Create.Summarize().P50 / bm.Create.Summarize().P50, 3),
                };
            })]),
            ["targets"] = new JsonObject
            {
                ["ack_ratio_max"] = AckRatioTarget,
                ["throughput_ratio_min"] = ThroughputRatioTarget,
                ["ack_p50_met"] = oAck.P50 / bAck.P50 <= AckRatioTarget,
                ["ack_tail_ratio_max"] = AckTailRatioTarget,
                ["ack_p99_met"] = oAck.P99 / bAck.P99 <= AckTailRatioTarget,
                ["throughput_met"] = throughputRatio >= ThroughputRatioTarget,
                ["create_ratio_max"] = CreateRatioTarget,
                ["create_p50_met"] = oCreate.P50 / bCreate.P50 <= CreateRatioTarget,
            },
        });

        if (settings.ReportPath is not null)
        {
            WriteHtml(settings, engineTitle, phases, ours, bare, o, b);
        }

        // The targets are reported, never asserted; a run that acknowledged nothing at all measured nothing.
        return oAck.Count > 0 && bAck.Count > 0 ? 0 : 2;
    }

    public const double CreateRatioTarget = 1.5;

    private static string Count(long value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed record HistoryFigures(int Max, double Mean, double Generations, int Sessions);

    private static HistoryFigures HistoryOf(IEnumerable<Phase> phases)
    {
        var records = phases.SelectMany(p => p.History).ToList();
        return records.Count == 0
            ? new HistoryFigures(0, double.NaN, double.NaN, 0)
            : new HistoryFigures(records.Max(r => r.LargestExecution), records.Average(r => r.LargestExecution), records.Average(r => r.Executions.Count), records.Count);
    }

    private static JsonObject HistoryJson(HistoryFigures h) => new()
    {
        ["sessions"] = h.Sessions,
        ["max"] = h.Max,
        ["mean_of_max"] = Json.Number(h.Mean),
        ["generations_per_session"] = Json.Number(h.Generations, 2),
    };

    private static void WriteHtml(Settings settings, string title, List<Phase> phases, ISessionDriver ours, ISessionDriver bare, PhaseMetrics o, PhaseMetrics b)
    {
        var report = new HtmlReport(title);
        report.Paragraph($"{settings.Sessions} sessions per phase, {settings.Rounds} round(s) of ours and bare in alternating phases; " +
            $"closed-loop pause/resume; agent task [steps={settings.Steps}] [delay={settings.StepDelayMs}]; engine {EngineChoice.Name(settings.Backend)}.");
        report.Heading("Acknowledgement latency (pause + resume), all rounds pooled");
        report.Histograms("Share of acknowledgements per latency bin; same bins and scale for both.",
            [new ChartSeries("ours", HtmlReport.OursColor, o.Ack.Snapshot()), new ChartSeries("bare", HtmlReport.BareColor, b.Ack.Snapshot())]);
        report.Cdf("Cumulative distribution of acknowledgement latency.",
            [new ChartSeries("ours ack", HtmlReport.OursColor, o.Ack.Snapshot()), new ChartSeries("bare ack", HtmlReport.BareColor, b.Ack.Snapshot())]);
        report.Heading("Create latency");
        report.Cdf("Cumulative distribution of create latency (until the session shows running / the bare one has published).",
            [new ChartSeries("ours create", HtmlReport.OursColor, o.Create.Snapshot()), new ChartSeries("bare create", HtmlReport.BareColor, b.Create.Snapshot())]);
        report.Heading("Acknowledged commands per second over the run");
        report.Timeline("Each point is one whole second of a phase; phases alternate between ours and bare.", "acked/s",
            [.. phases.Select(p => new TimeSeries(p.Driver == ours ? "ours" : "bare", p.Driver == ours ? HtmlReport.OursColor : HtmlReport.BareColor,
                HtmlReport.PerSecond(p.Metrics.Commands!)))]);
        if (TeeWriter.Current is { } tee)
        {
            report.Preformatted("Text results", tee.Captured);
        }

        report.Save(settings.ReportPath!);
    }

    public static void WriteErrors(TextWriter stdout, IEnumerable<(string Name, ErrorCounts Errors)> sources)
    {
        var errors = new Table("errors", "count");
        var any = false;
        foreach (var (name, counts) in sources)
        {
            foreach (var (key, value) in counts.Snapshot())
            {
                errors.Add($"{name} {key}", value.ToString(CultureInfo.InvariantCulture));
                any = true;
            }
        }

        if (!any)
        {
            errors.Add("none", "0");
        }

        errors.Write(stdout, "Errors by operation and status");
    }
}
