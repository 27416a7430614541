using AgentSessions.Core.Agents;

namespace AgentSessions.Core.Sessions;

/// <summary>Everything that can happen to a session. Closed set: the decider switches over it.</summary>
public abstract record SessionCommand;

/// <summary>A user message: starts a task, answers a question or becomes input for the next step.</summary>
public sealed record SendMessage(string Text, string? StartUrl = null) : SessionCommand;

public sealed record PauseSession : SessionCommand;

public sealed record ResumeSession : SessionCommand;

public sealed record CancelTask : SessionCommand;

/// <summary>The idle timer fired. <paramref name="IdleFor"/> is only used to explain why.</summary>
public sealed record ExpireSession(TimeSpan IdleFor) : SessionCommand;

/// <summary>The agent finished a step.</summary>
public sealed record CompleteStep(int TaskNumber, int StepNumber, AgentStepResult Result) : SessionCommand;

/// <summary>The agent could not execute a step even after retries.</summary>
public sealed record FailStep(int TaskNumber, int StepNumber, string Error) : SessionCommand;

public sealed record DeleteSession : SessionCommand;

/// <summary>The agent's browser moved to <paramref name="Url"/> at the user's request.</summary>
public sealed record NavigateTo(string Url) : SessionCommand;
