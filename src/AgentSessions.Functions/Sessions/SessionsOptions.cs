using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Sessions;

/// <summary>Service settings, read once at start-up; a bad value stops the app naming the setting.</summary>
public sealed record SessionsOptions
{
    public TimeSpan AckTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromHours(24);

    public int CommandsPerGeneration { get; init; } = 100;

    public long MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>
    /// A claim (a create with an Idempotency-Key, a restart of a failed session) whose work has not shown after this
    /// long was left by a process that died, and another caller may take it over.
    /// </summary>
    public TimeSpan StaleClaimAfter { get; init; } = TimeSpan.FromSeconds(30);

    public SessionRuntimeSettings RuntimeSettings => new(IdleTimeout, CommandsPerGeneration);

    public static SessionsOptions FromConfiguration(IConfiguration configuration) => new()
    {
        AckTimeout = TimeSpan.FromSeconds(Read(configuration, "SESSIONS_ACK_TIMEOUT_SECONDS", 10, 0.1, 300)),
        IdleTimeout = TimeSpan.FromSeconds(Read(configuration, "SESSIONS_IDLE_TIMEOUT_SECONDS", 86_400, 1, 365 * 86_400)),
        CommandsPerGeneration = (int)Read(configuration, "SESSIONS_COMMANDS_PER_GENERATION", 100, 1, 10_000),
        MaxBodyBytes = (long)Read(configuration, "SESSIONS_MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
    };

    private static double Read(IConfiguration configuration, string name, double fallback, double min, double max)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new InvalidOperationException($"Setting {name} is '{raw}'; expected a number from {min} to {max}.");
    }
}
