using System.Collections.Immutable;
using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

/// <summary>
/// Drives <see cref="SessionDecider"/> the way the orchestration does: one command at a time,
/// feeding each decision's state into the next, with a clock that moves one second per command.
/// </summary>
internal sealed class SessionDriver
{
    public const string SessionId = "3f2c1a9e-6b1d-4c2e-9f57-0a1b2c3d4e5f";
    public const string AgentName = "agi-0";
    public static readonly DateTimeOffset Start = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    public SessionDriver(int maxSteps = SessionState.DefaultMaxSteps)
    {
        Now = Start;
        State = SessionState.New(SessionId, AgentName, maxSteps, goal: null, Start);
    }

    public SessionState State { get; private set; }

    public DateTimeOffset Now { get; private set; }

    public List<SessionDecision> Decisions { get; } = [];

    public SessionStatus Visible => State.VisibleStatus;

    /// <summary>The (task, step) the agent is executing now; fails the test when nothing is in flight.</summary>
    public (int Task, int Step) InFlight
    {
        get
        {
            var task = State.Task ?? throw new InvalidOperationException("no task");
            var step = task.StepInFlight ?? throw new InvalidOperationException("no step in flight");
            return (task.Number, step);
        }
    }

    public SessionDecision Apply(SessionCommand command)
    {
        Now = Now.AddSeconds(1);
        var decision = SessionDecider.Decide(State, command, Now);
        State = decision.State;
        Decisions.Add(decision);
        return decision;
    }

    public SessionDecision Message(string text, string? startUrl = null) => Apply(new SendMessage(text, startUrl));

    public SessionDecision Pause() => Apply(new PauseSession());

    public SessionDecision Resume() => Apply(new ResumeSession());

    public SessionDecision Cancel() => Apply(new CancelTask());

    public SessionDecision Expire() => Apply(new ExpireSession(TimeSpan.FromHours(1)));

    public SessionDecision Delete() => Apply(new DeleteSession());

    /// <summary>Completes the step in flight with the given status and agent messages.</summary>
    public SessionDecision Complete(AgentStepStatus status, params AgentMessage[] messages)
    {
        var (task, step) = InFlight;
        return Apply(Step(task, step, status, messages));
    }

    public SessionDecision Fail(string error = "agent unreachable")
    {
        var (task, step) = InFlight;
        return Apply(new FailStep(task, step, error));
    }

    public static CompleteStep Step(int task, int step, AgentStepStatus status, params AgentMessage[] messages) =>
        new(task, step, new AgentStepResult(status, [.. messages]));

    // ---- starting states, each reached with real commands ----

    public static SessionDriver Ready(int maxSteps = SessionState.DefaultMaxSteps) => new(maxSteps);

    public static SessionDriver Running(int maxSteps = SessionState.DefaultMaxSteps)
    {
        var d = new SessionDriver(maxSteps);
        d.Message("open example.com");
        return d.Expect(SessionStatus.Running);
    }

    public static SessionDriver WaitingForInput()
    {
        var d = Running();
        d.Complete(AgentStepStatus.WaitingForInput, Question("Which account?"));
        return d.Expect(SessionStatus.WaitingForInput);
    }

    public static SessionDriver PausedFromRunning()
    {
        var d = Running();
        d.Pause();
        return d.Expect(SessionStatus.Paused);
    }

    public static SessionDriver PausedFromWaiting()
    {
        var d = WaitingForInput();
        d.Pause();
        return d.Expect(SessionStatus.Paused);
    }

    public static SessionDriver FinishedDone()
    {
        var d = Running();
        d.Complete(AgentStepStatus.Finished, Done("all done"));
        return d.Expect(SessionStatus.Finished);
    }

    public static SessionDriver FinishedCancelled()
    {
        var d = Running();
        d.Cancel();
        return d.Expect(SessionStatus.Finished);
    }

    public static SessionDriver ErrorFromAgent()
    {
        var d = Running();
        d.Complete(AgentStepStatus.Error, Error("page crashed"));
        return d.Expect(SessionStatus.Error);
    }

    public static SessionDriver ErrorFromFailedStep()
    {
        var d = Running();
        d.Fail();
        return d.Expect(SessionStatus.Error);
    }

    public static SessionDriver ErrorFromMaxSteps()
    {
        var d = Running(maxSteps: 1);
        d.Complete(AgentStepStatus.Running, Thought("still going"));
        return d.Expect(SessionStatus.Error);
    }

    public static SessionDriver ErrorFromExpiry()
    {
        var d = Running();
        d.Expire();
        return d.Expect(SessionStatus.Error);
    }

    /// <summary>Builds a starting state by the name used in the theory tables.</summary>
    public static SessionDriver Build(string name) => name switch
    {
        "ready" => Ready(),
        "running" => Running(),
        "waiting_for_input" => WaitingForInput(),
        "paused(running)" => PausedFromRunning(),
        "paused(waiting_for_input)" => PausedFromWaiting(),
        "finished(done)" => FinishedDone(),
        "finished(cancelled)" => FinishedCancelled(),
        "error(agent)" => ErrorFromAgent(),
        "error(failed_step)" => ErrorFromFailedStep(),
        "error(max_steps)" => ErrorFromMaxSteps(),
        "error(expired)" => ErrorFromExpiry(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown starting state"),
    };

    public static SessionCommand Command(string name) => name switch
    {
        "message" => new SendMessage("next instruction"),
        "pause" => new PauseSession(),
        "resume" => new ResumeSession(),
        "cancel" => new CancelTask(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown command"),
    };

    private SessionDriver Expect(SessionStatus visible)
    {
        if (State.VisibleStatus != visible)
        {
            throw new InvalidOperationException($"setup reached {State.VisibleStatus}, expected {visible}");
        }

        return this;
    }

    // ---- agent messages ----

    public static AgentMessage Thought(string text) => new(MessageTypes.Thought, JsonSerializer.SerializeToElement(text));

    public static AgentMessage Question(string text) => new(MessageTypes.Question, JsonSerializer.SerializeToElement(text));

    public static AgentMessage Done(string text) => new(MessageTypes.Done, JsonSerializer.SerializeToElement(text));

    public static AgentMessage Error(string text) => new(MessageTypes.Error, JsonSerializer.SerializeToElement(text));
}

/// <summary>Reading decisions in assertions.</summary>
internal static class DecisionExtensions
{
    public static ImmutableList<SessionMessage> Messages(this SessionDecision decision) =>
        [.. decision.Effects.OfType<AppendMessages>().SelectMany(a => a.Messages)];

    public static List<StepRequest> StartedSteps(this SessionDecision decision) =>
        [.. decision.Effects.OfType<StartStep>().Select(s => s.Request)];

    public static StepRequest SingleStartedStep(this SessionDecision decision) => Assert.Single(decision.StartedSteps());

    public static string[] Types(this SessionDecision decision) => [.. decision.Messages().Select(m => m.Type)];

    public static string? Text(this SessionMessage message) =>
        message.Content.ValueKind == JsonValueKind.String ? message.Content.GetString() : null;

    public static string? MetadataValue(this SessionMessage message, string key) =>
        message.Metadata.ValueKind == JsonValueKind.Object && message.Metadata.TryGetProperty(key, out var value)
            ? value.GetString()
            : null;

    /// <summary>Asserts a command changed nothing: same state, no effects.</summary>
    public static void AssertNoChange(this SessionDecision decision, SessionState before)
    {
        Assert.Equal(before, decision.State);
        Assert.Empty(decision.Effects);
    }
}
