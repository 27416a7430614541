using System.Collections.Immutable;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Durable;
using AgentSessions.Functions.Sessions;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Tests.Sessions;

/// <summary>
/// A session whose orchestration failed or was stopped never looks alive, whatever it last published: before this,
/// GET kept showing <c>running</c> while every command answered 404.
/// </summary>
public sealed class SessionReadsTests
{
    [Theory]
    [InlineData(OrchestrationRuntimeStatus.Failed, "the session's orchestration failed: Storing messages failed")]
    [InlineData(OrchestrationRuntimeStatus.Terminated, "the session's orchestration was terminated: Storing messages failed")]
    public void StoppedOrchestration_ReadsAsError_WithTheReason(OrchestrationRuntimeStatus runtimeStatus, string reason)
    {
        var view = SessionReads.ReadView(Metadata(runtimeStatus));

        Assert.NotNull(view);
        Assert.Equal("error", view.Status);
        Assert.Equal(reason, view.Reason);
        Assert.Equal("the goal", view.Goal);
        Assert.Equal(12, view.LastMessageId);
    }

    [Fact]
    public void LongFailure_ReasonKeptWithinItsLimit()
    {
        var view = SessionReads.ReadView(Metadata(OrchestrationRuntimeStatus.Failed, new string('x', 20_000)));

        Assert.Equal(SessionState.MaxReasonLength, view!.Reason!.Length);
    }

    [Fact]
    public void RunningOrchestration_ReadsAsPublished()
    {
        Assert.Equal("running", SessionReads.ReadView(Metadata(OrchestrationRuntimeStatus.Running))!.Status);
    }

    private static OrchestrationMetadata Metadata(OrchestrationRuntimeStatus runtimeStatus, string error = "Storing messages failed")
    {
        var state = SessionState.New("0d9f4d6e-3f5b-4f55-9b83-0a3c1f7b2a11", "agi-0", 100, "the goal", DateTimeOffset.UnixEpoch) with
        {
            Status = SessionStatus.Running,
            LastMessageId = 12,
        };
        var input = new SessionInput(state, new SessionRuntimeSettings(TimeSpan.FromHours(1), 100), [], [], Generation: 0);
        var snapshot = SessionStatusSnapshot.From(state, ImmutableList<CommandResult>.Empty, CommandCounts.Zero);
        return new OrchestrationMetadata(SessionOrchestration.Name, SessionIds.InstanceId("alice", state.SessionId))
        {
            RuntimeStatus = runtimeStatus,
            SerializedInput = DurableJson.Converter.Serialize(input),
            SerializedCustomStatus = DurableJson.Converter.Serialize(snapshot),
            SerializedOutput = runtimeStatus == OrchestrationRuntimeStatus.Terminated ? DurableJson.Converter.Serialize(error) : null,
            FailureDetails = runtimeStatus == OrchestrationRuntimeStatus.Failed ? new TaskFailureDetails("TaskFailedException", error, null, null, null) : null,
            DataConverter = DurableJson.Converter,
        };
    }
}
