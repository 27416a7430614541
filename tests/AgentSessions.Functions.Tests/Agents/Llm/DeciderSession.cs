using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Messages;

namespace AgentSessions.Functions.Tests.Agents.Llm;

/// <summary>
/// A session driven by the real decider and the real message store, without Durable: what the orchestration does,
/// in a test's own order (store the decision's messages, then hand out the step it started, filled in as the
/// orchestration fills it in). Lets agent tests build realistic transcripts and interleavings quickly.
/// </summary>
public sealed class DeciderSession(IMessageStore store, string agentName = "llm", int maxSteps = 10)
{
    public string SessionId { get; } = Guid.NewGuid().ToString("D");

    public string InstanceId => "alice:" + SessionId;

    public SessionState State { get; private set; } = null!;

    public IMessageStore Store => store;

    /// <summary>The step the last command started, if it started one.</summary>
    public StepRequest? Started { get; private set; }

    public Task<StepRequest?> StartAsync(string goal, string? startUrl = null)
    {
        State = SessionState.New(SessionId, agentName, maxSteps, goal, DateTimeOffset.UtcNow);
        return ApplyAsync(new SendMessage(goal, startUrl));
    }

    public async Task<StepRequest?> ApplyAsync(SessionCommand command)
    {
        var decision = SessionDecider.Decide(State, command, DateTimeOffset.UtcNow);
        State = decision.State;
        foreach (var append in decision.Effects.OfType<AppendMessages>())
        {
            await store.AppendAsync(InstanceId, append.Messages);
        }

        Started = decision.Effects.OfType<StartStep>().Select(s => s.Request with { InstanceId = InstanceId, LastMessageId = State.LastMessageId })
            .SingleOrDefault();
        return Started;
    }

    public Task<StepRequest?> CompleteAsync(StepRequest step, AgentStepResult result) =>
        ApplyAsync(new CompleteStep(step.TaskNumber, step.StepNumber, result));

    public Task<StepRequest?> SendAsync(string text) => ApplyAsync(new SendMessage(text));

    public async Task<IReadOnlyList<SessionMessage>> MessagesAsync() => await store.ReadAsync(InstanceId, 0, 10_000);
}
