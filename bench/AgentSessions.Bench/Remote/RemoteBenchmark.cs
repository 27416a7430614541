using System.Globalization;
using System.Text.Json.Nodes;

namespace AgentSessions.Bench.Remote;

/// <summary>The command pattern against a running service over HTTP.</summary>
public static class RemoteBenchmark
{
    public sealed record Settings(
        Uri BaseUrl, string Key, int Sessions, TimeSpan Duration, TimeSpan MessageSeconds, string Agent, int Steps, int StepDelayMs,
        TimeSpan RequestTimeout, string? ReportPath);

    public static Settings Read(Cli cli)
    {
        cli.AllowOnly("base-url", "key", "sessions", "duration", "message-seconds", "agent", "steps", "step-delay-ms", "request-timeout", "report");
        var raw = cli.RequiredString("base-url");
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--base-url must be an absolute http(s) URL, not '{raw}'");
        }

        return new Settings(
            baseUrl,
            cli.RequiredString("key"),
            cli.Int("sessions", 10, 1, 10_000),
            TimeSpan.FromSeconds(cli.Double("duration", 30, 1, 24 * 3600)),
            TimeSpan.FromSeconds(cli.Double("message-seconds", 10, 0.5, 3600)),
            cli.String("agent") ?? "agi-0",
            cli.Int("steps", 1000, 1, 1000),
            cli.Int("step-delay-ms", 500, 0, 600_000),
            TimeSpan.FromSeconds(cli.Double("request-timeout", 60, 1, 600)),
            cli.String("report"));
    }

    public static async Task<int> RunAsync(Settings settings)
    {
        using var http = HttpDriver.CreateClient(settings.BaseUrl, settings.Key, settings.RequestTimeout);
        var driver = new HttpDriver(http, settings.Agent, settings.Steps);
        var goal = Workload.Goal(settings.Steps, settings.StepDelayMs, "remote");
        var metrics = new PhaseMetrics();
        Progress.Log($"remote: {settings.BaseUrl} — {settings.Sessions} sessions of agent '{settings.Agent}' on [steps={settings.Steps}] " +
            $"[delay={settings.StepDelayMs}], {settings.Duration.TotalSeconds:0} s of pause/resume, then {settings.MessageSeconds.TotalSeconds:0} s " +
            "of message→THOUGHT probes and as long of message reads");

        var sessions = await Workload.CreateSessionsAsync(driver, settings.Sessions, Math.Min(settings.Sessions, 16), goal, metrics, "create");
        try
        {
            if (sessions.Count > 0)
            {
                await Workload.RunCommandLoopAsync(driver, sessions, settings.Duration, goal, metrics, "commands");
                var thoughtTimeout = TimeSpan.FromSeconds(30) + TimeSpan.FromMilliseconds(settings.StepDelayMs * 3);
                await Workload.RunMessageProbesAsync(driver, sessions, settings.MessageSeconds, goal, thoughtTimeout, metrics, "messages");
                await Workload.RunReadsAsync(driver, sessions, settings.MessageSeconds, metrics, "reads");
            }
        }
        finally
        {
            // Leave nothing running on the service.
            await Workload.DeleteSessionsAsync(driver, sessions, 8, metrics.Errors, "cleanup");
        }

        return Report(settings, metrics, sessions.Count);
    }

    private static int Report(Settings settings, PhaseMetrics m, int created)
    {
        var stdout = Console.Out;
        stdout.WriteLine();
        stdout.WriteLine($"Remote benchmark against {settings.BaseUrl}: {created}/{settings.Sessions} sessions created, agent '{settings.Agent}' " +
            $"on [steps={settings.Steps}] [delay={settings.StepDelayMs}]; {settings.Duration.TotalSeconds:0} s of closed-loop pause/resume, " +
            $"{settings.MessageSeconds.TotalSeconds:0} s of message probes, {settings.MessageSeconds.TotalSeconds:0} s of message reads." + MachineLoad.Describe());

        var latency = new Table(Format.LatencyHeaders);
        latency.Add(Format.LatencyCells("create (POST /v1/sessions with goal)", m.Create.Summarize()));
        latency.Add(Format.LatencyCells("pause ack", m.Pause.Summarize()));
        latency.Add(Format.LatencyCells("resume ack", m.Resume.Summarize()));
        latency.Add(Format.LatencyCells("ack (pause+resume)", m.Ack.Summarize()));
        latency.Add(Format.LatencyCells("message ack", m.MessageAck.Summarize()));
        latency.Add(Format.LatencyCells("message → first THOUGHT*", m.FirstThought.Summarize()));
        latency.Add(Format.LatencyCells("GET messages", m.Read.Summarize()));
        latency.Write(stdout, "Latency");
        stdout.WriteLine($"* includes the agent's step delay ({settings.StepDelayMs} ms for the scripted agent): the new task's first step must run before its THOUGHT exists.");

        var throughput = new Table("throughput", "per second");
        throughput.Add("acked commands (sustained, whole window)", Format.Rate(m.Commands?.PerSecond ?? double.NaN));
        throughput.Add("acked commands (slowest second)", Format.Rate(m.Commands?.SlowestSecond ?? double.NaN));
        throughput.Add("message reads", Format.Rate(m.Reads?.PerSecond ?? double.NaN));
        throughput.Add("messages read", Format.Rate(m.Reads is { } w ? m.MessagesRead / w.Length.TotalSeconds : double.NaN));
        throughput.Write(stdout, "Throughput");
        stdout.WriteLine($"Task restarts (a task ended during the run): {m.Restarts.ToString(CultureInfo.InvariantCulture)}. " +
            "The ratio targets (ack ≤ 1.15x, throughput ≥ 0.9x the bare orchestration) need the bare reference: see the inprocess mode.");

        InProcess.InProcessBenchmark.WriteErrors(stdout, [("remote", m.Errors)]);

        Json.WriteLine("remote", new JsonObject
        {
            ["config"] = new JsonObject
            {
                ["base_url"] = settings.BaseUrl.ToString(),
                ["sessions"] = settings.Sessions,
                ["created"] = created,
                ["duration_s"] = settings.Duration.TotalSeconds,
                ["message_seconds"] = settings.MessageSeconds.TotalSeconds,
                ["agent"] = settings.Agent,
                ["steps"] = settings.Steps,
                ["step_delay_ms"] = settings.StepDelayMs,
            },
            ["machine"] = Json.Machine(),
            ["create"] = Json.Latency(m.Create.Summarize()),
            ["pause_ack"] = Json.Latency(m.Pause.Summarize()),
            ["resume_ack"] = Json.Latency(m.Resume.Summarize()),
            ["ack"] = Json.Latency(m.Ack.Summarize()),
            ["message_ack"] = Json.Latency(m.MessageAck.Summarize()),
            ["message_to_first_thought"] = Json.Latency(m.FirstThought.Summarize()),
            ["messages_read"] = Json.Latency(m.Read.Summarize()),
            ["acked_commands_per_s"] = Json.Number(m.Commands?.PerSecond ?? double.NaN),
            ["acked_commands_slowest_second"] = Json.Number(m.Commands?.SlowestSecond ?? double.NaN),
            ["message_reads_per_s"] = Json.Number(m.Reads?.PerSecond ?? double.NaN),
            ["messages_read_per_s"] = Json.Number(m.Reads is { } r ? m.MessagesRead / r.Length.TotalSeconds : double.NaN),
            ["restarts"] = m.Restarts,
            ["errors"] = Json.Errors(m.Errors),
        });

        if (settings.ReportPath is not null)
        {
            var report = new HtmlReport($"Remote benchmark against {settings.BaseUrl}");
            report.Paragraph($"{created}/{settings.Sessions} sessions, closed-loop pause/resume over HTTP for {settings.Duration.TotalSeconds:0} s. " +
                "There is no bare reference over HTTP (see the inprocess mode): the charts show the service alone.");
            report.Heading("Latency over HTTP");
            report.Histograms("Share per latency bin: pause/resume acknowledgement and create side by side.",
                [new ChartSeries("ack (pause+resume)", HtmlReport.OursColor, m.Ack.Snapshot()), new ChartSeries("create", HtmlReport.BareColor, m.Create.Snapshot())]);
            report.Cdf("Cumulative distributions.",
                [new ChartSeries("pause ack", HtmlReport.Palette[0], m.Pause.Snapshot()), new ChartSeries("resume ack", HtmlReport.Palette[1], m.Resume.Snapshot()),
                 new ChartSeries("message ack", HtmlReport.Palette[2], m.MessageAck.Snapshot()), new ChartSeries("GET messages", HtmlReport.Palette[3], m.Read.Snapshot())]);
            if (m.Commands is { } window)
            {
                report.Heading("Acknowledged commands per second over the run");
                report.Timeline("Each point is one whole second of the command window.", "acked/s",
                    [new TimeSeries("acked commands", HtmlReport.OursColor, HtmlReport.PerSecond(window))]);
            }

            if (TeeWriter.Current is { } tee)
            {
                report.Preformatted("Text results", tee.Captured);
            }

            report.Save(settings.ReportPath);
        }

        return m.Ack.Count > 0 ? 0 : 2;
    }
}
