using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Functions.Agents;

/// <summary>
/// An agent that makes no external calls, for local runs, demos and tests. It follows markers in
/// the task text: <c>[steps=N]</c> (default 3), <c>[delay=MS]</c>, <c>[ask]</c> (asks one question
/// after its first step and quotes the answer when done) and <c>[fail]</c> (errors at step 2).
/// It has no browser: navigation is accepted as asked (the session records the URL), screenshots are not supported.
/// </summary>
public sealed partial class ScriptedAgent(TimeSpan defaultDelay, TimeProvider time, string name = "scripted") : IAgent
{
    public const int DefaultSteps = 3;

    public Task<AgentNavigation> NavigateAsync(string sessionId, string url, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(url);
        return Task.FromResult(new AgentNavigation(url));
    }

    public Task<JsonElement> ScreenshotAsync(string sessionId, CancellationToken cancellationToken) =>
        throw new AgentCapabilityNotSupportedException(name, "screenshot",
            $"Agent '{name}' is a scripted agent without a browser, so it cannot take screenshots.");

    public async Task<AgentStepResult> ExecuteStepAsync(StepRequest request, CancellationToken cancellationToken)
    {
        var script = Script.Parse(request.Task, defaultDelay);
        if (script.Delay > TimeSpan.Zero)
        {
            await Task.Delay(script.Delay, time, cancellationToken);
        }

        var memory = Memory.Read(request.AgentState);
        if (script.Ask && memory.Answer is null && request.NewUserMessages.Count > 0 && memory.Asked)
        {
            memory = memory with { Answer = string.Join("\n", request.NewUserMessages) };
        }

        var step = request.StepNumber;
        var messages = ImmutableList.CreateBuilder<AgentMessage>();
        if (script.Fail && step >= 2)
        {
            messages.Add(Text(MessageTypes.Error, $"Scripted failure at step {step}"));
            return new AgentStepResult(AgentStepStatus.Error, messages.ToImmutable(), memory.Write());
        }

        var noted = request.NewUserMessages.Count == 0 ? string.Empty : $" (noted: {Shorten(string.Join(" / ", request.NewUserMessages))})";
        messages.Add(Text(MessageTypes.Thought, $"Step {step} of {script.Steps}: working on \"{Shorten(request.Task)}\"{noted}"));
        if (script.Ask && !memory.Asked)
        {
            messages.Add(Text(MessageTypes.Question, "What should I keep in mind for this task?"));
            return new AgentStepResult(AgentStepStatus.WaitingForInput, messages.ToImmutable(), (memory with { Asked = true }).Write());
        }

        if (step < script.Steps)
        {
            return new AgentStepResult(AgentStepStatus.Running, messages.ToImmutable(), memory.Write());
        }

        var done = new Dictionary<string, object?>
        {
            ["summary"] = memory.Answer is null
                ? $"Finished \"{Shorten(request.Task)}\" in {step} steps"
                : $"Finished \"{Shorten(request.Task)}\" in {step} steps, keeping in mind: {memory.Answer}",
            ["steps"] = step,
        };
        if (memory.Answer is not null)
        {
            done["answer"] = memory.Answer;
        }

        messages.Add(new AgentMessage(MessageTypes.Done, JsonSerializer.SerializeToElement(done)));
        return new AgentStepResult(AgentStepStatus.Finished, messages.ToImmutable(), memory.Write());
    }

    private static AgentMessage Text(string type, string text) => new(type, JsonSerializer.SerializeToElement(text));

    private static string Shorten(string text) => text.Length <= 80 ? text : string.Concat(text.AsSpan(0, 77), "...");

    private sealed record Script(int Steps, TimeSpan Delay, bool Ask, bool Fail)
    {
        public static Script Parse(string text, TimeSpan defaultDelay)
        {
            var steps = StepsMarker().Match(text) is { Success: true } s
                && int.TryParse(s.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n : DefaultSteps;
            var delay = DelayMarker().Match(text) is { Success: true } d
                && int.TryParse(d.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                ? TimeSpan.FromMilliseconds(Math.Min(ms, 600_000)) : defaultDelay;
            return new Script(steps, delay, text.Contains("[ask]", StringComparison.OrdinalIgnoreCase),
                text.Contains("[fail]", StringComparison.OrdinalIgnoreCase));
        }
    }

    private sealed record Memory(bool Asked, string? Answer)
    {
        public static Memory Read(string? state) =>
            string.IsNullOrEmpty(state) ? new Memory(false, null) : JsonSerializer.Deserialize<Memory>(state) ?? new Memory(false, null);

        public string Write() => JsonSerializer.Serialize(this);
    }

    [GeneratedRegex(@"\[steps=(\d{1,4})\]", RegexOptions.IgnoreCase)]
    private static partial Regex StepsMarker();

    [GeneratedRegex(@"\[delay=(\d{1,6})\]", RegexOptions.IgnoreCase)]
    private static partial Regex DelayMarker();
}
