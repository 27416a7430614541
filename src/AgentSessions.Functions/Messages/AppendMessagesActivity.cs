using System.Collections.Immutable;
using AgentSessions.Core.Sessions;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Messages;

public sealed record AppendMessagesInput(string SessionKey, ImmutableList<SessionMessage> Messages);

/// <summary>Stores messages the orchestration numbered; safe to retry because ids are fixed.</summary>
public sealed class AppendMessagesActivity(IMessageStore store)
{
    public const string Name = "AppendMessages";

    [Function(Name)]
    public Task RunAsync([ActivityTrigger] AppendMessagesInput input, CancellationToken cancellationToken) =>
        store.AppendAsync(input.SessionKey, input.Messages, cancellationToken);
}
