using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// Webhook settings, read once at start-up; a bad value stops the app naming the setting.
/// A missing secret does not stop the app: webhooks are then off, and a create with <c>webhook_url</c> answers 422.
/// A class, not a record, so the secret never shows up in a generated <c>ToString</c>.
/// </summary>
public sealed class WebhookOptions
{
    public const string SigningSecretSetting = "WEBHOOK_SIGNING_SECRET";
    public const string AllowPrivateNetworksSetting = "WEBHOOKS_ALLOW_PRIVATE_NETWORKS";

    /// <summary>Short secrets are easy to guess offline from one signed body.</summary>
    public const int MinSecretLength = 16;

    /// <summary>The HMAC key; null or empty means webhooks are not configured.</summary>
    public string? SigningSecret { get; init; }

    /// <summary>Lets webhook URLs target loopback, private, link-local and metadata addresses. For local development only.</summary>
    public bool AllowPrivateNetworks { get; init; }

    /// <summary>How long one delivery attempt may take, from connecting to the response headers.</summary>
    public TimeSpan DeliveryTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Retry schedule handed to each dispatcher when it starts (<see cref="WebhookDispatch.StartAsync"/>).</summary>
    public WebhookRetrySettings Retry { get; init; } = WebhookRetrySettings.Default;

    public bool IsConfigured => !string.IsNullOrEmpty(SigningSecret);

    public static WebhookOptions FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var secret = configuration[SigningSecretSetting];
        if (string.IsNullOrWhiteSpace(secret))
        {
            secret = null;
        }
        else if (secret.Length < MinSecretLength)
        {
            // The value itself is never echoed.
            throw new InvalidOperationException(
                $"Setting {SigningSecretSetting} is {secret.Length} characters long; use at least {MinSecretLength} (for example 32 random bytes, hex or base64), or leave it empty to turn webhooks off.");
        }

        return new WebhookOptions
        {
            SigningSecret = secret,
            AllowPrivateNetworks = ReadBool(configuration, AllowPrivateNetworksSetting, false),
        };
    }

    public override string ToString() =>
        $"WebhookOptions {{ SigningSecret = {(IsConfigured ? "(set)" : "(not set)")}, AllowPrivateNetworks = {AllowPrivateNetworks}, DeliveryTimeout = {DeliveryTimeout}, Retry = {Retry} }}";

    private static bool ReadBool(IConfiguration configuration, string name, bool fallback)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        return bool.TryParse(raw.Trim(), out var value)
            ? value
            : throw new InvalidOperationException($"Setting {name} is '{raw}'; expected true or false.");
    }
}
