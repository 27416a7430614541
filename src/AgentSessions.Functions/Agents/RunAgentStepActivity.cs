using System.Collections.Concurrent;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Messages;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Agents;

/// <summary>Executes one agent step. Its result only takes effect if the orchestration still wants it.</summary>
public sealed class RunAgentStepActivity(AgentResolver agents)
{
    public const string Name = "RunAgentStep";

    /// <summary>Agent memory travels through the orchestration's state, so it must stay small.</summary>
    public const int MaxAgentStateChars = 16_000;

    [Function(Name)]
    public async Task<AgentStepResult> RunAsync([ActivityTrigger] StepRequest request, CancellationToken cancellationToken)
    {
        var agent = agents.Resolve(request.AgentName);
        var result = await agent.ExecuteStepAsync(request, cancellationToken);
        if (result.State is { Length: > MaxAgentStateChars })
        {
            throw new InvalidOperationException($"Agent returned {result.State.Length} characters of state; the limit is {MaxAgentStateChars}.");
        }

        return result;
    }
}

/// <summary>Turns an agent name into the agent that serves it.</summary>
/// <param name="messages">The session message store, which llm agents read their conversation from; needed only when
/// the catalog has one.</param>
public sealed class AgentResolver(AgentCatalog catalog, TimeProvider time, IHttpClientFactory httpClients, IMessageStore? messages = null)
{
    // One per agent for the life of the app: an llm agent holds its credential (and so its token cache).
    private readonly ConcurrentDictionary<string, LlmAgent> llmAgents = new(StringComparer.Ordinal);

    public IAgent Resolve(string name)
    {
        if (!catalog.TryGet(name, out var definition))
        {
            throw new InvalidOperationException($"Agent '{name}' is not configured.");
        }

        return definition.Type switch
        {
            AgentCatalog.ScriptedType => new ScriptedAgent(definition.StepDelay, time, definition.Name),
            AgentCatalog.HttpType => new HttpAgent(definition, httpClients),
            AgentCatalog.LlmType => llmAgents.GetOrAdd(definition.Name, _ => new LlmAgent(
                definition.Llm ?? throw new InvalidOperationException($"Agent '{name}' is an llm agent without settings."),
                messages ?? throw new InvalidOperationException($"Agent '{name}' is an llm agent, which needs the message store."),
                httpClients, time)),
            _ => throw new NotSupportedException($"Agent type '{definition.Type}' is not supported."),
        };
    }
}
